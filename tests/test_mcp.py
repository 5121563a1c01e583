"""The app as an MCP server: one tool, classify_clothing, called by the `mcp` client over loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from benchmarks.bad_images import EXPECTED, make_cases
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # starts the app


def data_url(raw: bytes, kind: str = "image/jpeg") -> str:
    return f"data:{kind};base64," + base64.b64encode(raw).decode()


def with_session(url: str, work):
    """Run `work(session)` in an MCP session with the app's server; return what it returns."""

    async def run():
        async with streamable_http_client(f"{url}gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


def test_the_server_lists_one_tool_that_describes_itself(server):
    async def work(session):
        return (await session.list_tools()).tools

    (tool,) = with_session(server, work)

    assert tool.name == "classify_clothing"
    assert "Fashion-MNIST" in tool.description and "Ankle boot" in tool.description
    assert "JSON" in tool.description and "top_classes" in tool.description
    assert (
        tool.inputSchema["required"] == ["image"] and "10 MB" in tool.inputSchema["properties"]["image"]["description"]
    )


def test_a_photo_sent_as_a_data_url_comes_back_as_its_class_in_json(server):
    photo = data_url((ROOT / "examples" / "shop-trouser.jpg").read_bytes())

    async def work(session):
        return await session.call_tool("classify_clothing", {"image": photo})

    result = with_session(server, work)

    assert not result.isError, result.content
    answer = json.loads(result.content[0].text)
    assert answer["top_classes"][0]["label"] == "Trouser" == answer["answer"] and answer["warning"] == ""


def test_a_broken_file_is_a_tool_error_with_the_apps_message_and_the_server_keeps_serving(server, tmp_path):
    broken = data_url(make_cases(tmp_path)["text_file.png"].read_bytes(), "image/png")
    photo = data_url((ROOT / "examples" / "shop-sneaker.jpg").read_bytes())

    async def work(session):
        return await session.call_tool("classify_clothing", {"image": broken}), await session.call_tool(
            "classify_clothing", {"image": photo}
        )

    refused, answered = with_session(server, work)

    assert refused.isError
    assert EXPECTED["text_file.png"] in refused.content[0].text
    assert json.loads(answered.content[0].text)["top_classes"][0]["label"] == "Sneaker"


def test_a_url_on_this_machine_is_refused_so_the_tool_cannot_read_local_services(server):
    # The app's own port: a server that answers, which the tool must still not fetch from.
    local = f"{server}gradio_api/info"

    async def work(session):
        return await session.call_tool("classify_clothing", {"image": local})

    refused = with_session(server, work)

    # Gradio's guard refuses it before any request leaves: its own words name the host.
    assert refused.isError
    assert "127.0.0.1 failed validation" in refused.content[0].text


def test_the_docs_show_the_tools_real_answer_for_the_example(server):
    photo = data_url((ROOT / "examples" / "phone-dress.jpg").read_bytes())

    async def work(session):
        return await session.call_tool("classify_clothing", {"image": photo})

    answer = json.loads(with_session(server, work).content[0].text)
    (shown,) = re.findall(r'^\{"answer".*\}$', (ROOT / "docs" / "api.md").read_text(), flags=re.M)

    assert json.loads(shown) == answer
