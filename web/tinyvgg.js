// The app's prediction path in the browser: model.predict.classify and model.preprocess, step for step.
//
//   import { load } from "./tinyvgg.js";
//   const tinyvgg = await load();                    // model.onnx, model.json, OpenCV and ONNX Runtime
//   const answer = await tinyvgg.classify(blobOrUrl); // {answer, top_classes: [{label, probability}] x3, warning}
//
// Every number it compares against and every message the Python app also shows come from model.json,
// which `python -m model.publishing.space build --static` writes from the Python package, so the two
// paths cannot drift apart (tests/test_static_space.py changes them there and watches the page follow).
// What stays here has no Python counterpart: the file formats' headers, the libraries' own algorithms
// that PIL runs inside Python (draft decoding, BOX resampling), and the browser's limits. The photo
// never leaves the page: decoding, OpenCV's GrabCut and the model all run here.

import * as ort from "./vendor/onnxruntime-web/ort.wasm.min.mjs";

const here = (path) => new URL(path, import.meta.url).href;
// The longest side a browser's 2D canvas takes (Chromium, Firefox).
const CANVAS_SIDE = 32767;

export class ImageError extends Error {
  constructor(message) {
    super(message);
    this.name = "ImageError";
  }
}

// ---- loading ----------------------------------------------------------------------------------

function loadOpenCV() {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = here("./vendor/opencv-js/opencv.js");
    script.async = true;
    script.onerror = () => reject(new Error("OpenCV (vendor/opencv-js/opencv.js) could not be loaded"));
    script.onload = () => {
      // opencv.js sets window.cv to its module, which is ready once its WebAssembly is compiled.
      const cv = window.cv;
      if (!cv) reject(new Error("vendor/opencv-js/opencv.js defined no cv module"));
      else if (cv.Mat) resolve(cv);
      else if (typeof cv.then === "function") cv.then(resolve, reject);
      else cv.onRuntimeInitialized = () => resolve(cv);
    };
    document.head.appendChild(script);
  });
}

export async function load() {
  ort.env.wasm.wasmPaths = here("./vendor/onnxruntime-web/");
  // Several threads need a cross-origin isolated page, which a static host does not promise.
  ort.env.wasm.numThreads = 1;
  const [spec, cv, session] = await Promise.all([
    download("./model.json").then((r) => r.json()),
    loadOpenCV(),
    download("./model.onnx")
      .then((r) => r.arrayBuffer())
      .then((bytes) => ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] })),
  ]);
  return new TinyVGG(spec, cv, session);
}

async function download(path) {
  const response = await fetch(here(path));
  if (!response.ok) throw new Error(`${path} could not be loaded (HTTP ${response.status}): rebuild the Space`);
  return response;
}

// ---- the model's answer -----------------------------------------------------------------------

class TinyVGG {
  constructor(spec, cv, session) {
    this.spec = spec;
    this.p = spec.preprocess;
    this.cv = cv;
    this.session = session;
    this.classNames = spec.class_names;
    this.size = this.p.SIZE; // the side of the image the model sees
    this.unreadable = fill(this.p.UNREADABLE, { formats: nameList(FORMATS) });
  }

  /** The MCP tool's JSON shape: {answer: a class or "unsure", top_classes: [{label, probability}] (best 3), warning}. */
  async classify(source) {
    const answer = await this.answer(source);
    return { answer: answer.answer, top_classes: answer.topClasses, warning: answer.warning };
  }

  /** Everything the page shows: probabilities (name -> probability), answer, notes, warning, pixels (28x28
   * uint8), way, milliseconds (model.predict.Answer). */
  async answer(source) {
    const started = performance.now();
    const blob = await toBlob(source);
    let prepared;
    try {
      prepared = await this.prepareImage(blob);
    } catch (error) {
      // OpenCV.js throws a pointer (a number) to its C++ exception: give it a message.
      if (typeof error === "number") throw new Error(`OpenCV failed: ${this.cv.exceptionFromPtr?.(error)?.msg ?? error}`);
      throw error;
    }
    const { logits, photoLogits } = await this.run(prepared.pixels);
    const score = this.oodScore(logits, prepared.pixels);
    const calibration = this.spec.calibration;
    if (prepared.way === this.p.FRAME && calibration.frame_threshold !== null && score < calibration.frame_threshold) {
      throw new ImageError(this.p.NO_GARMENT);
    }
    const shown = this.p.PHOTO_WAYS.includes(prepared.way) ? photoLogits : logits;
    const probabilities = softmax(shown);
    const byName = Object.fromEntries(this.classNames.map((name, i) => [name, probabilities[i]]));
    const warning =
      calibration.ood_threshold !== null && score < calibration.ood_threshold ? this.spec.unlike_training : "";
    const topClasses = Object.entries(byName)
      .sort((a, b) => b[1] - a[1])
      .slice(0, this.spec.top_classes)
      .map(([name, p]) => ({ label: name, probability: Math.round(p * 1e4) / 1e4 }));
    // Answer.unsure, .answer and .notes(): no class named when none is likely.
    const unsure = Math.max(...probabilities) < this.spec.unsure_below;
    const unsureNote = unsure
      ? fill(this.spec.unsure_note, {
          percent: this.spec.unsure_percent,
          closest: nameList(topClasses.map((c) => c.label)),
          classes: this.classNames.length,
        })
      : "";
    return {
      probabilities: byName,
      answer: unsure ? this.spec.unsure : topClasses[0].label,
      headline: unsure ? this.spec.unsure_headline : topClasses[0].label,
      unsure,
      notes: [unsureNote, warning].filter(Boolean).join(" "),
      warning,
      pixels: prepared.pixels,
      way: prepared.way,
      topClasses,
      milliseconds: performance.now() - started,
    };
  }

  async run(pixels) {
    // to_inputs: uint8 (28, 28) -> float32 (1, 1, 28, 28) in [0, 1].
    const x = Float32Array.from(pixels, (v) => Math.fround(v / 255));
    const input = new ort.Tensor("float32", x, [1, 1, this.p.SIZE, this.p.SIZE]);
    const out = await this.session.run({ [this.spec.input_name]: input });
    return { logits: Array.from(out[this.spec.output_name].data), photoLogits: Array.from(out[this.spec.photo_output_name].data) };
  }

  /** TinyVGG.ood_score: the energy of the calibrated logits, less a steep penalty for roughness. */
  oodScore(logits, pixels) {
    const m = Math.max(...logits);
    let score = m + Math.log(logits.reduce((s, v) => s + Math.exp(v - m), 0));
    const maxRoughness = this.spec.calibration.max_roughness;
    if (maxRoughness !== null) {
      const n = this.p.SIZE;
      let across = 0;
      let down = 0;
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          const v = pixels[y * n + x] / 255;
          if (x > 0) across += Math.abs(v - pixels[y * n + x - 1] / 255);
          if (y > 0) down += Math.abs(v - pixels[(y - 1) * n + x] / 255);
        }
      }
      const roughness = across / (n * (n - 1)) + down / ((n - 1) * n);
      score -= this.spec.roughness_penalty * Math.max(roughness - maxRoughness, 0);
    }
    return score;
  }

  // ---- model.preprocess ---------------------------------------------------------------------

  /** prepare_image: any image file -> {pixels: Uint8Array(28 * 28), light garment on black; way}. */
  async prepareImage(blob) {
    const rgb = await this.openImage(blob);
    try {
      return this.fashionMnistStyle(rgb);
    } finally {
      rgb.delete();
    }
  }

  /** open_image + rgb_pixels: check the size from the header, decode (EXIF orientation, onto white), RGB cv.Mat. */
  async openImage(blob) {
    const p = this.p;
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const header = imageHeader(bytes);
    if (!header) throw new ImageError(this.unreadable);
    const { width, height, format } = header;
    if (width * height > p.PIL_BOMB_PIXELS) throw new ImageError(p.TOO_MANY_PIXELS);
    if (width * height > p.MAX_PIXELS) {
      const megapixels = pyRound((width * height) / p.MEGAPIXEL);
      throw new ImageError(fill(p.TOO_LARGE, { width, height, megapixels, limit: Math.floor(p.MAX_PIXELS / p.MEGAPIXEL) }));
    }
    if (Math.min(width, height) < p.MIN_SIDE) {
      throw new ImageError(fill(p.TOO_SMALL, { width, height, min_side: p.MIN_SIDE }));
    }
    if (Math.max(width, height) > CANVAS_SIDE) {
      throw new ImageError(
        `The image is ${width}x${height} pixels; a browser page can decode at most ${CANVAS_SIDE.toLocaleString("en")} ` +
          "pixels a side. Send a smaller photo (the Python app reads it).",
      );
    }
    if (truncated(bytes, format)) throw new ImageError(p.TRUNCATED);
    let bitmap;
    try {
      // EXIF orientation applied, colours as stored (PIL applies no colour profile either).
      bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none" });
    } catch {
      throw new ImageError(this.unreadable);
    }
    let pixels;
    try {
      // Transparency is flattened onto white, as rgb_pixels does.
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.fillStyle = "#fff";
      context.fillRect(0, 0, bitmap.width, bitmap.height);
      context.drawImage(bitmap, 0, 0);
      pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    } finally {
      bitmap.close();
    }
    const { cv } = this;
    const rgb = new cv.Mat();
    const rgba = cv.matFromImageData(pixels);
    try {
      cv.cvtColor(rgba, rgb, cv.COLOR_RGBA2RGB);
    } catch (error) {
      rgb.delete();
      throw error;
    } finally {
      rgba.delete();
    }
    // PIL's draft mode decodes a large JPEG at 1/2, 1/4 or 1/8 of its size, at least DRAFT_SIDE a side.
    const a = pilDraftScale(width, height, p.DRAFT_SIDE);
    if (format !== "JPEG" || Math.min(width, height) <= p.DRAFT_ABOVE || a === 1) return rgb;
    const drafted = new cv.Mat();
    try {
      cv.resize(rgb, drafted, new cv.Size(Math.ceil(rgb.cols / a), Math.ceil(rgb.rows / a)), 0, 0, cv.INTER_AREA);
      return drafted;
    } catch (error) {
      drafted.delete();
      throw error;
    } finally {
      rgb.delete();
    }
  }

  /** fashion_mnist_style: RGB -> {pixels, way}: small and plain images subtracted, photos cut out by GrabCut. */
  fashionMnistStyle(rgb) {
    const { cv, p } = this;
    const gray = grayFloats(cv, rgb);
    if (Math.max(gray.rows, gray.cols) <= p.SMALL_SIDE) {
      return { pixels: this.square28(...this.subtractPlainBackground(gray)), way: p.SMALL };
    }
    if (borderSpread(gray) <= p.PLAIN_BORDER) {
      return { pixels: this.square28(...this.subtractPlainBackground(gray), false, true), way: p.PLAIN };
    }
    const small = shrink(cv, rgb, p.WORK_SIDE);
    try {
      let mask = null;
      if (Math.min(small.rows, small.cols) >= p.MIN_SIDE) {
        const blurred = new cv.Mat();
        try {
          cv.GaussianBlur(small, blurred, new cv.Size(0, 0), p.SMOOTHING, 0);
          mask = this.garmentMask(blurred);
        } finally {
          blurred.delete();
        }
      }
      let way = p.SEGMENTED;
      if (mask === null) {
        mask = { rows: small.rows, cols: small.cols, data: new Uint8Array(small.rows * small.cols).fill(1) };
        way = p.FRAME;
      }
      const smallGray = grayFloats(cv, small);
      return { pixels: this.square28(lightOnBlack(smallGray, mask, p), mask, true), way };
    } finally {
      if (small !== rgb) small.delete();
    }
  }

  /** garment_mask: the one item in the middle of a busy photo (1: garment), or null where nothing stands out. */
  garmentMask(rgb) {
    const { cv, p } = this;
    const height = rgb.rows;
    const width = rgb.cols;
    const insetY = Math.max(1, pyRound(p.GRABCUT_INSET * height));
    const insetX = Math.max(1, pyRound(p.GRABCUT_INSET * width));
    const rect = new cv.Rect(insetX, insetY, width - 2 * insetX, height - 2 * insetY);
    const mats = [new cv.Mat(), cv.Mat.zeros(height, width, cv.CV_8U), new cv.Mat(), new cv.Mat()];
    const [bgr, mask, background, foreground] = mats;
    let labels;
    try {
      cv.cvtColor(rgb, bgr, cv.COLOR_RGB2BGR);
      cv.setRNGSeed(p.GRABCUT_SEED);
      cv.grabCut(bgr, mask, rect, background, foreground, p.GRABCUT_ITERATIONS, cv.GC_INIT_WITH_RECT);
      // A copy: a view of OpenCV's memory goes empty when a later allocation grows it.
      labels = Uint8Array.from(mask.data);
    } finally {
      for (const m of mats) m.delete();
    }
    const garment = labels.map((v) => (v === cv.GC_FGD || v === cv.GC_PR_FGD ? 1 : 0));
    const cleaned = clean(cv, { rows: height, cols: width, data: garment }, p);
    let sum = 0;
    for (const v of cleaned.data) sum += v;
    if (sum < p.MIN_GARMENT_SHARE * height * width) return null;
    return cleaned;
  }

  /** _subtract_plain_background: light garment on black from a plain background, and what stands out. */
  subtractPlainBackground(gray) {
    const { p } = this;
    const border = borderValues(gray);
    let values = gray.data;
    let edge = median(border);
    if (edge > p.LIGHT_BACKGROUND) {
      values = values.map((v) => 255 - v);
      edge = median(border.map((v) => 255 - v));
    }
    const out = new Float32Array(values.length);
    let peak = 0;
    for (let i = 0; i < values.length; i++) {
      out[i] = Math.max(values[i] - edge, 0);
      peak = Math.max(peak, out[i]);
    }
    if (peak < p.BLANK_PEAK) throw new ImageError(p.BLANK);
    const scale = Math.fround(255 / peak);
    const mask = new Uint8Array(out.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = out[i] * scale;
      mask[i] = out[i] > p.STANDS_OUT * 255 ? 1 : 0;
    }
    return [
      { rows: gray.rows, cols: gray.cols, data: out },
      { rows: gray.rows, cols: gray.cols, data: mask },
    ];
  }

  /** _square_28: crop to the mask's box with a margin, (stretch a wide crop), pad to a black square, 28x28
   * (with `subsample`: box-averaged to SUBSAMPLE x 28, then the middle pixel of each block). */
  square28(values, mask, stretchWide = false, subsample = false) {
    const { cv, p } = this;
    let top = mask.rows;
    let bottom = -1;
    let left = mask.cols;
    let right = -1;
    for (let y = 0; y < mask.rows; y++) {
      for (let x = 0; x < mask.cols; x++) {
        if (mask.data[y * mask.cols + x]) {
          top = Math.min(top, y);
          bottom = Math.max(bottom, y);
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    bottom += 1;
    right += 1;
    const margin = pyRound(p.MARGIN * Math.max(bottom - top, right - left));
    const y0 = Math.max(top - margin, 0);
    const y1 = Math.min(bottom + margin, values.rows);
    const x0 = Math.max(left - margin, 0);
    const x1 = Math.min(right + margin, values.cols);
    let height = y1 - y0;
    let width = x1 - x0;
    let crop = new Float32Array(height * width);
    for (let y = 0; y < height; y++) crop.set(values.data.subarray((y0 + y) * values.cols + x0, (y0 + y) * values.cols + x1), y * width);
    if (stretchWide && width > height) {
      const src = cv.matFromArray(height, width, cv.CV_32F, crop);
      const dst = new cv.Mat();
      try {
        cv.resize(src, dst, new cv.Size(width, width), 0, 0, cv.INTER_LINEAR);
        crop = Float32Array.from(dst.data32F);
        height = width;
      } finally {
        src.delete();
        dst.delete();
      }
    }
    const side = Math.max(height, width);
    const square = new Uint8Array(side * side); // astype(np.uint8): truncated
    const oy = Math.floor((side - height) / 2);
    const ox = Math.floor((side - width) / 2);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) square[(oy + y) * side + ox + x] = Math.trunc(crop[y * width + x]) & 255;
    }
    if (!subsample) return pilBoxResize(square, side, side, p.SIZE, p.SIZE);
    const k = p.SUBSAMPLE;
    const big = pilBoxResize(square, side, side, k * p.SIZE, k * p.SIZE);
    const out = new Uint8Array(p.SIZE * p.SIZE);
    const start = Math.floor(k / 2);
    for (let y = 0; y < p.SIZE; y++) {
      for (let x = 0; x < p.SIZE; x++) out[y * p.SIZE + x] = big[(start + k * y) * k * p.SIZE + start + k * x];
    }
    return out;
  }
}

// ---- decoding helpers -------------------------------------------------------------------------

async function toBlob(source) {
  if (source instanceof Blob) return source;
  const response = await fetch(source);
  if (!response.ok) throw new ImageError(`Could not read ${source}: HTTP ${response.status}.`);
  return response.blob();
}

// The formats the page decodes, by the names people know them by, each with the reader of its header:
// (bytes) -> {width, height} before any pixel is decoded, or null where the file is not of that format.
// The "not an image" message lists these, so it never suggests a format the page refuses.
const u16be = (b, i) => (b[i] << 8) | b[i + 1];
const u32be = (b, i) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
const u16le = (b, i) => b[i] | (b[i + 1] << 8);
const u24le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const i32le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));
const HEADERS = {
  PNG(b) {
    if (!(b.length >= 24 && b[0] === 0x89 && ascii(b, 1, 3) === "PNG" && ascii(b, 12, 4) === "IHDR")) return null;
    return { width: u32be(b, 16), height: u32be(b, 20) };
  },
  JPEG(b) {
    if (!(b.length >= 4 && b[0] === 0xff && b[1] === 0xd8)) return null;
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker === 0xff) {
        i += 1;
        continue;
      }
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { width: u16be(b, i + 7), height: u16be(b, i + 5) };
      }
      i += 2 + u16be(b, i + 2);
    }
    return null;
  },
  WebP(b) {
    if (!(b.length >= 30 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP")) return null;
    const chunk = ascii(b, 12, 4);
    if (chunk === "VP8 ") return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
    if (chunk === "VP8L") {
      const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8X") return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
    return null;
  },
  GIF(b) {
    if (!(b.length >= 10 && (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a"))) return null;
    return { width: u16le(b, 6), height: u16le(b, 8) };
  },
  BMP(b) {
    if (!(b.length >= 26 && ascii(b, 0, 2) === "BM")) return null;
    return { width: Math.abs(i32le(b, 18)), height: Math.abs(i32le(b, 22)) };
  },
};
export const FORMATS = Object.freeze(Object.keys(HEADERS));

/** Width, height and format (a name of FORMATS) from the file's header; null if no format the page decodes matches. */
export function imageHeader(b) {
  for (const [format, read] of Object.entries(HEADERS)) {
    const size = read(b);
    if (size) return { format, ...size };
  }
  return null;
}

/** ["A", "B", "C"] -> "A, B or C", as model.preprocess.name_list lists choices in the messages. */
export function nameList(names) {
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

/** str.format for model.json's message templates, whose fields are plain names: "{width}" -> values.width. */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (field, name) => {
    if (!(name in values)) throw new Error(`model.json's message "${template}" asks for ${field}, which the page does not give`);
    return String(values[name]);
  });
}

/** Whether the file ends before its format's end marker (PIL refuses such files; a browser would show half). */
function truncated(b, format) {
  if (format === "JPEG") {
    // The end-of-image marker must follow the first scan: an EXIF thumbnail before it has one of its own.
    const scan = jpegScanStart(b);
    if (scan < 0) return true;
    for (let i = b.length - 2; i >= scan; i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return false;
    return true;
  }
  const tail = b.subarray(Math.max(0, b.length - 4096));
  if (format === "PNG") return !String.fromCharCode(...tail).includes("IEND");
  if (format === "GIF") return !tail.includes(0x3b);
  return false;
}

/** Where a JPEG's first scan (its entropy-coded data) begins, walking its segments; -1 if it has none. */
function jpegScanStart(b) {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return -1;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i += 1;
      continue;
    }
    const length = (b[i + 2] << 8) | b[i + 3];
    if (marker === 0xda) return i + 2 + length;
    i += 2 + length;
  }
  return -1;
}

// ---- numpy and OpenCV helpers -----------------------------------------------------------------

/** Python's round(): halves to even. */
function pyRound(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

function grayFloats(cv, rgb) {
  const gray = new cv.Mat();
  try {
    cv.cvtColor(rgb, gray, cv.COLOR_RGB2GRAY);
    return { rows: gray.rows, cols: gray.cols, data: Float32Array.from(gray.data) };
  } finally {
    gray.delete();
  }
}

function borderValues(gray) {
  const { rows, cols, data } = gray;
  const out = [];
  for (let x = 0; x < cols; x++) out.push(data[x]);
  for (let x = 0; x < cols; x++) out.push(data[(rows - 1) * cols + x]);
  for (let y = 0; y < rows; y++) out.push(data[y * cols]);
  for (let y = 0; y < rows; y++) out.push(data[y * cols + cols - 1]);
  return out;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function borderSpread(gray) {
  const border = borderValues(gray);
  const middle = median(border);
  return median(border.map((v) => Math.abs(v - middle)));
}

/** numpy.percentile, linear interpolation, with NumPy's own lerp (from the nearer end). */
function percentile(sorted, q) {
  const index = (q / 100) * (sorted.length - 1);
  const low = Math.floor(index);
  const high = Math.min(low + 1, sorted.length - 1);
  const t = index - low;
  const a = sorted[low];
  const b = sorted[high];
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/** _light_on_black: the garment's own shading, inverted, on black, with a floor of brightness; `p`: model.preprocess. */
function lightOnBlack(gray, mask, p) {
  const inside = [];
  for (let i = 0; i < gray.data.length; i++) if (mask.data[i]) inside.push(gray.data[i]);
  const sorted = Float64Array.from(inside).sort();
  const [low, high] = p.SHADING_PERCENTILES.map((q) => percentile(sorted, q));
  const range = Math.max(high - low, p.MIN_SHADING_RANGE);
  const floor = p.GARMENT_FLOOR;
  const out = new Float32Array(gray.data.length);
  for (let i = 0; i < out.length; i++) {
    const shading = 1 - Math.min(Math.max((gray.data[i] - low) / range, 0), 1);
    out[i] = 255 * (floor + (1 - floor) * shading) * mask.data[i];
  }
  return { rows: gray.rows, cols: gray.cols, data: out };
}

/** _shrink: longer side at most `side` (INTER_AREA), never up. */
function shrink(cv, rgb, side) {
  const scale = side / Math.max(rgb.rows, rgb.cols);
  if (scale >= 1) return rgb;
  const out = new cv.Mat();
  try {
    const size = new cv.Size(Math.max(1, pyRound(rgb.cols * scale)), Math.max(1, pyRound(rgb.rows * scale)));
    cv.resize(rgb, out, size, 0, 0, cv.INTER_AREA);
    return out;
  } catch (error) {
    out.delete();
    throw error;
  }
}

/** _clean: open away specks, keep the largest region, fill its holes; {rows, cols, data} in and out. */
function clean(cv, mask, p) {
  const mats = [];
  const track = (m) => (mats.push(m), m);
  try {
    const source = track(cv.matFromArray(mask.rows, mask.cols, cv.CV_8U, mask.data));
    const opened = track(new cv.Mat());
    const kernel = track(cv.Mat.ones(p.OPENING, p.OPENING, cv.CV_8U));
    cv.morphologyEx(source, opened, cv.MORPH_OPEN, kernel);
    const labels = track(new cv.Mat());
    const stats = track(new cv.Mat());
    const count = cv.connectedComponentsWithStats(opened, labels, stats, track(new cv.Mat()), p.CONNECTIVITY);
    let largest = opened;
    if (count > 1) {
      let best = 1;
      for (let i = 2; i < count; i++) {
        if (stats.intAt(i, cv.CC_STAT_AREA) > stats.intAt(best, cv.CC_STAT_AREA)) best = i;
      }
      const ids = Int32Array.from(labels.data32S);
      largest = track(cv.matFromArray(opened.rows, opened.cols, cv.CV_8U, Array.from(ids, (id) => (id === best ? 1 : 0))));
    }
    const contours = track(new cv.MatVector());
    cv.findContours(largest, contours, track(new cv.Mat()), cv.RETR_EXTERNAL, cv.CHAIN_APPROX_SIMPLE);
    const filled = track(cv.Mat.zeros(opened.rows, opened.cols, cv.CV_8U));
    cv.drawContours(filled, contours, -1, new cv.Scalar(1), -1);
    return { rows: filled.rows, cols: filled.cols, data: Uint8Array.from(filled.data) };
  } finally {
    for (const m of mats) m.delete();
  }
}

/** The reduction PIL's JpegImageFile.draft picks to keep at least `side` pixels a side: libjpeg decodes at 1/1 to 1/8. */
function pilDraftScale(width, height, side) {
  const scale = Math.min(Math.floor(width / side), Math.floor(height / side));
  return [8, 4, 2, 1].find((s) => scale >= s) ?? 1;
}

/** PIL's Image.resize(..., Image.BOX) of an 8-bit image: a horizontal then a vertical pass, fixed point. */
export function pilBoxResize(pixels, inWidth, inHeight, outWidth, outHeight) {
  const PRECISION_BITS = 32 - 8 - 2;
  const coefficients = (inSize, outSize) => {
    const scale = inSize / outSize;
    const filterScale = Math.max(scale, 1);
    const support = 0.5 * filterScale;
    const ss = 1 / filterScale;
    const taps = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      const weights = [];
      let total = 0;
      for (let x = 0; x < xmax; x++) {
        const u = (x + xmin - center + 0.5) * ss;
        const w = u > -0.5 && u <= 0.5 ? 1 : 0;
        weights.push(w);
        total += w;
      }
      const fixed = weights.map((w) => {
        const k = total !== 0 ? w / total : w;
        return k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
      });
      taps.push({ xmin, weights: fixed });
    }
    return taps;
  };
  const clip8 = (v) => Math.min(Math.max(Math.floor(v / (1 << PRECISION_BITS)), 0), 255);
  const horizontal = coefficients(inWidth, outWidth);
  const wide = new Uint8Array(outWidth * inHeight);
  for (let y = 0; y < inHeight; y++) {
    for (let xx = 0; xx < outWidth; xx++) {
      const { xmin, weights } = horizontal[xx];
      let sum = 1 << (PRECISION_BITS - 1);
      for (let x = 0; x < weights.length; x++) sum += pixels[y * inWidth + xmin + x] * weights[x];
      wide[y * outWidth + xx] = clip8(sum);
    }
  }
  const vertical = coefficients(inHeight, outHeight);
  const out = new Uint8Array(outWidth * outHeight);
  for (let yy = 0; yy < outHeight; yy++) {
    const { xmin: ymin, weights } = vertical[yy];
    for (let x = 0; x < outWidth; x++) {
      let sum = 1 << (PRECISION_BITS - 1);
      for (let y = 0; y < weights.length; y++) sum += wide[(ymin + y) * outWidth + x] * weights[y];
      out[yy * outWidth + x] = clip8(sum);
    }
  }
  return out;
}

function softmax(logits) {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const total = e.reduce((s, v) => s + v, 0);
  return e.map((v) => v / total);
}
