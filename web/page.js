// The static Space's page: load the model once, then answer every photo (upload, camera, paste, drop, examples).

import { FORMATS, load, nameList } from "./tinyvgg.js";

const $ = (id) => document.getElementById(id);
let busy = Promise.resolve();

const ready = load();
// window.tinyvgg.classify(urlOrBlob) -> {answer, top_classes, warning}, for other pages and scripts; formats: the
// image formats it reads.
window.tinyvgg = {
  formats: FORMATS,
  ready: ready.then(() => true),
  classify: async (source) => (await ready).classify(source),
  answer: async (source) => (await ready).answer(source),
};

$("formats").textContent = nameList(FORMATS);

ready.then(
  async (model) => {
    $("seen").width = $("seen").height = model.size;
    $("seen-caption").textContent = `What the model sees: ${model.size}x${model.size}, enlarged`;
    $("classes").textContent = `${model.classNames.length} classes: ${model.classNames.join(", ")}`;
    $("status").textContent = "Ready. Pick a photo.";
    const examples = await fetch("./examples.json").then((r) => r.json());
    for (const name of examples) {
      const img = document.createElement("img");
      img.src = `./examples/${encodeURIComponent(name)}`;
      img.alt = name;
      img.title = name;
      img.addEventListener("click", () =>
        fetch(img.src)
          .then((response) => response.blob())
          .then(show)
          .catch((error) => ($("error").textContent = `The example could not be read: ${error.message}`)),
      );
      $("examples").appendChild(img);
    }
  },
  (error) => {
    $("status").textContent = `The model could not be loaded: ${error.message}`;
  },
);

/** Classify one photo and show the answer, or the reason there is none; one photo at a time. */
function show(blob) {
  busy = busy.then(async () => {
    let model;
    try {
      model = await ready;
    } catch (error) {
      $("error").textContent = `The model could not be loaded, so no photo can be classified: ${error.message}`;
      return;
    }
    $("error").textContent = "";
    $("warning").textContent = "";
    $("headline").textContent = "";
    $("prediction").replaceChildren();
    $("timing").textContent = "";
    const url = URL.createObjectURL(blob);
    $("photo").src = url;
    $("photo").style.display = "block";
    try {
      const answer = await model.answer(blob);
      for (const { label, probability } of answer.topClasses) {
        const item = document.createElement("li");
        item.innerHTML = `<span class="name"></span> <span class="probability"></span><div class="bar"><div></div></div>`;
        item.querySelector(".name").textContent = label;
        item.querySelector(".probability").textContent = `${(probability * 100).toFixed(1)}%`;
        item.querySelector(".bar > div").style.width = `${probability * 100}%`;
        $("prediction").appendChild(item);
      }
      // As the app's label: the top class, or "Unsure" above the closest classes.
      $("headline").textContent = answer.headline;
      $("warning").textContent = answer.notes;
      drawSeen(answer.pixels);
      $("timing").textContent = `${answer.milliseconds.toFixed(1)} ms (decode, preprocess, model)`;
      $("photo").dataset.answered = "true";
    } catch (error) {
      $("error").textContent = error.name === "ImageError" ? error.message : `Something went wrong: ${error.message}`;
      $("photo").style.display = "none";
      const seen = $("seen");
      seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
    } finally {
      URL.revokeObjectURL(url);
    }
  });
  return busy;
}

function drawSeen(pixels) {
  const seen = $("seen");
  const rgba = new ImageData(seen.width, seen.height);
  pixels.forEach((v, i) => rgba.data.set([v, v, v, 255], 4 * i));
  seen.getContext("2d").putImageData(rgba, 0, 0);
}

for (const id of ["file", "camera"]) {
  $(id).addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) show(file);
    event.target.value = ""; // the same file again is a new change
  });
}
document.addEventListener("paste", (event) => {
  const item = [...event.clipboardData.items].find((i) => i.kind === "file");
  if (item) show(item.getAsFile());
});
$("drop").addEventListener("dragover", (event) => {
  event.preventDefault();
  $("drop").classList.add("over");
});
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (event) => {
  event.preventDefault();
  $("drop").classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (file) show(file);
});
window.tinyvggShow = show; // the page's own path, for tests and scripts that drive the page
