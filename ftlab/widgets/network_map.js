// ftlab network map: a plain ES module for anywidget (no build step).
// The Python side owns the state; this file draws it and sends clicks back.

const MIN_BLOCK_PX = 12;
const MIN_STAGE_PX = 50; // room for a legible stage name ("stage1") under the smallest stages
const GAP_PX = 2;
const CHAR_PX = 6.5; // 10 px system-ui, generous: a label is drawn only where it fits whole

function waterfill(weights, minimums, available) {
  // Widths proportional to weights, none below its minimum: pin the ones that fall short, share the rest.
  const n = weights.length;
  const fixed = new Array(n).fill(false);
  const out = minimums.slice();
  for (let pass = 0; pass <= n; pass++) {
    const room = available - minimums.reduce((s, m, i) => s + (fixed[i] ? m : 0), 0);
    const total = weights.reduce((s, w, i) => s + (fixed[i] ? 0 : Math.max(w, 0)), 0) || 1;
    let changed = false;
    weights.forEach((w, i) => {
      if (fixed[i]) return;
      const x = (Math.max(w, 0) / total) * room;
      if (x < minimums[i]) { fixed[i] = true; changed = true; out[i] = minimums[i]; } else { out[i] = x; }
    });
    if (!changed) break;
  }
  return out;
}

function layout(stages, paramsOf, available) {
  // Two levels: stages share the strip by parameters (each wide enough for its name), then each
  // stage's blocks share the stage by parameters. Returns {block name: px} and {stage name: px}.
  const stageParams = stages.map((s) => s.blocks.reduce((t, b) => t + paramsOf[b], 0));
  const stageMin = stages.map((s) => Math.max(MIN_STAGE_PX, s.blocks.length * (MIN_BLOCK_PX + GAP_PX) - GAP_PX));
  const stageW = waterfill(stageParams, stageMin, available - GAP_PX * (stages.length - 1));
  const blockW = {};
  const stageOf = {};
  stages.forEach((s, i) => {
    stageOf[s.name] = stageW[i];
    const inner = waterfill(s.blocks.map((b) => paramsOf[b]), s.blocks.map(() => MIN_BLOCK_PX),
      stageW[i] - GAP_PX * (s.blocks.length - 1));
    s.blocks.forEach((b, j) => { blockW[b] = inner[j]; });
  });
  return { blockW, stageOf };
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(n) { return Number(n).toLocaleString("en-US"); }

function compact(n) {
  // 605,440 → "605k", 1,234,567 → "1.2M": short enough to sit under a block's name
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}k`;
  return String(n);
}

const CHART_W = 260, CHART_H = 84, PAD_L = 34, PAD_R = 6, PAD_T = 6, PAD_B = 16;

function chart(train, val, color, valColor) {
  // Training and validation on one shared scale, with the first and last epoch and the y range marked.
  const all = [...(train || []), ...(val || [])];
  if (!all.length) return "";
  const n = Math.max((train || []).length, (val || []).length);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const x = (i) => PAD_L + (n === 1 ? (CHART_W - PAD_L - PAD_R) / 2 : (i / (n - 1)) * (CHART_W - PAD_L - PAD_R));
  const y = (v) => PAD_T + (1 - (v - lo) / (hi - lo)) * (CHART_H - PAD_T - PAD_B);
  const line = (values, stroke, dashed) => (values && values.length)
    ? `<polyline fill="none" stroke="${stroke}" stroke-width="2" ${dashed ? 'stroke-dasharray="5 3"' : ""} ` +
      `points="${values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}"/>` +
      `<circle cx="${x(values.length - 1).toFixed(1)}" cy="${y(values[values.length - 1]).toFixed(1)}" r="2.5" fill="${stroke}"/>`
    : "";
  const tick = (v) => (Math.abs(hi - lo) < 0.1 ? v.toFixed(3) : v.toFixed(2));
  return `<svg class="ftlab-map-svg" width="${CHART_W}" height="${CHART_H}" viewBox="0 0 ${CHART_W} ${CHART_H}">` +
    `<rect x="${PAD_L}" y="${PAD_T}" width="${CHART_W - PAD_L - PAD_R}" height="${CHART_H - PAD_T - PAD_B}" fill="#f5f7f9"/>` +
    `<text x="${PAD_L - 4}" y="${PAD_T + 8}" text-anchor="end">${tick(hi)}</text>` +
    `<text x="${PAD_L - 4}" y="${CHART_H - PAD_B}" text-anchor="end">${tick(lo)}</text>` +
    `<text x="${PAD_L}" y="${CHART_H - 3}">epoch 1</text>` +
    `<text x="${CHART_W - PAD_R}" y="${CHART_H - 3}" text-anchor="end">${n}</text>` +
    line(train, color, false) + line(val, valColor, true) + "</svg>";
}

function render({ model, el: root }) {
  root.classList.add("ftlab-map");
  const header = el("div", "ftlab-map-title");
  const strip = el("div", "ftlab-map-strip");
  const legend = el("div", "ftlab-map-legend");
  const controls = el("div", "ftlab-map-controls");
  const readout = el("div", "ftlab-map-readout");
  const live = el("div", "ftlab-map-live");
  const codeBox = el("div", "ftlab-map-code");
  root.append(header, strip, legend, controls, readout, live, codeBox);

  // controls: slider, BatchNorm switch or LoRA/full switch, Apply
  const sliderLabel = el("label", "ftlab-map-slider");
  const sliderText = el("span", "", "unfreeze top k");
  const slider = el("input");
  slider.type = "range"; slider.min = "0"; slider.step = "1";
  slider.setAttribute("aria-label", "unfreeze top k");
  const sliderValue = el("span", "ftlab-map-k");
  sliderLabel.append(sliderText, slider, sliderValue);
  slider.addEventListener("input", () => {
    sliderValue.textContent = slider.value;
    model.set("top_k", parseInt(slider.value, 10));
    model.save_changes();
  });
  const bn = el("label", "ftlab-map-switch");
  const bnBox = el("input"); bnBox.type = "checkbox";
  bn.append(bnBox, el("span", "", " BatchNorm stays frozen"));
  bnBox.addEventListener("change", () => { model.set("batchnorm_frozen", bnBox.checked); model.save_changes(); });
  const lora = el("label", "ftlab-map-switch");
  const loraBox = el("input"); loraBox.type = "checkbox";
  lora.append(loraBox, el("span", "", " LoRA adapters (else full fine-tuning)"));
  loraBox.addEventListener("change", () => { model.set("method", loraBox.checked ? "lora" : "full"); model.save_changes(); });
  const apply = el("button", "ftlab-map-apply", "Apply");
  apply.title = "set trainable on the model (then run the compile line)";
  apply.addEventListener("click", () => model.send({ type: "apply" }));
  const status = el("span", "ftlab-map-status");
  controls.append(sliderLabel, model.get("kind") === "lm" ? lora : bn, apply, status);

  const pre = el("pre", "ftlab-map-pre");
  const copy = el("button", "ftlab-map-copy", "Copy");
  copy.addEventListener("click", async () => {
    const text = model.get("code");
    try { await navigator.clipboard.writeText(text); copy.textContent = "Copied"; }
    catch (e) {
      const range = document.createRange(); range.selectNodeContents(pre);
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      try { document.execCommand("copy"); copy.textContent = "Copied"; } catch (e2) { copy.textContent = "Select + Ctrl-C"; }
    }
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  codeBox.append(el("div", "ftlab-map-code-title", "The same in Keras:"), copy, pre);

  function toggle(names) {
    const chosen = new Set(model.get("selected"));
    const all = names.every((n) => chosen.has(n));
    names.forEach((n) => (all ? chosen.delete(n) : chosen.add(n)));
    const order = model.get("blocks").map((b) => b.name);
    model.set("selected", order.filter((n) => chosen.has(n)));
    model.save_changes();
  }

  function state(block, chosen) {
    if (!chosen.has(block.name)) return "frozen";
    if (model.get("kind") === "lm") return model.get("method") === "lora" && block.kind === "layer" ? "lora" : "trainable";
    return model.get("batchnorm_frozen") && block.has_bn ? "bn-frozen" : "trainable";
  }

  function drawStrip() {
    strip.replaceChildren();
    const blocks = model.get("blocks");
    const byName = Object.fromEntries(blocks.map((b) => [b.name, b]));
    const chosen = new Set(model.get("selected"));
    const available = Math.max(360, (strip.clientWidth || root.clientWidth - 18 || 900) - 1);
    const { blockW, stageOf } = layout(model.get("stages"), Object.fromEntries(blocks.map((b) => [b.name, b.params])), available);
    const training = model.get("training");
    for (const stage of model.get("stages")) {
      const col = el("div", "ftlab-map-stage");
      col.style.width = `${stageOf[stage.name].toFixed(1)}px`;
      const row = el("div", "ftlab-map-blocks");
      for (const name of stage.blocks) {
        const block = byName[name];
        const s = state(block, chosen);
        const box = el("div", `ftlab-map-block ftlab-${s}${training && s !== "frozen" ? " ftlab-lit" : ""}`);
        box.style.width = `${blockW[name].toFixed(1)}px`;
        box.dataset.block = name;
        box.dataset.state = s;
        box.title = `${name}: ${fmt(block.params)} parameters (${s})`;
        const short = name.replace(/^transformer_layer_/, "layer ");
        if (blockW[name] > short.length * CHAR_PX + 8) {
          box.append(el("span", "ftlab-map-name", short), el("span", "ftlab-map-params", compact(block.params)));
        }
        box.addEventListener("click", () => toggle([name]));
        row.append(box);
      }
      const label = el("div", "ftlab-map-stage-label", stage.name);
      label.dataset.stage = stage.name;
      label.title = `toggle every block of ${stage.name}`;
      label.addEventListener("click", () => toggle(stage.blocks));
      col.append(row, label);
      strip.append(col);
    }
  }

  function drawLegend() {
    const items = model.get("kind") === "lm"
      ? [["frozen", "frozen"], ["trainable", "trains (every weight)"], ["lora", "LoRA adapters train"]]
      : [["frozen", "frozen"], ["trainable", "trains"], ["bn-frozen", "trains, BatchNorm frozen"]];
    legend.replaceChildren(...items.map(([cls, text]) => {
      const item = el("span", "ftlab-map-legend-item");
      item.append(el("span", `ftlab-map-swatch ftlab-${cls}`), el("span", "", text));
      return item;
    }), el("span", "ftlab-map-hint", "width grows with parameters (hover for counts) · click a block or a stage name"));
  }

  function drawReadout() {
    const lines = (model.get("readout") || {}).lines || [];
    readout.replaceChildren(...lines.map((line, i) => el("div", i === 0 ? "ftlab-map-count" : "ftlab-map-estimate", line)));
  }

  function drawLive() {
    const history = model.get("history") || {};
    const keys = Object.keys(history);
    if (!keys.length && !model.get("training")) { live.replaceChildren(); return; }
    const metrics = [...new Set(keys.map((k) => k.replace(/^val_/, "")))];
    const charts = metrics.map((m) => {
      const box = el("div", "ftlab-map-chart");
      const last = (k) => (history[k] && history[k].length ? history[k][history[k].length - 1].toFixed(3) : "–");
      box.innerHTML = `<div class="ftlab-map-chart-title"><b>${m}</b>` +
        `<span class="ftlab-map-key ftlab-map-key-train"></span>training ${last(m)}` +
        (history["val_" + m] ? `<span class="ftlab-map-key ftlab-map-key-val"></span>validation ${last("val_" + m)}` : "") +
        `</div>` + chart(history[m], history["val_" + m], "#1f6fb4", "#e07b00");
      return box;
    });
    const epoch = el("div", `ftlab-map-epoch${model.get("training") ? " ftlab-map-running" : ""}`,
      model.get("epoch_text") || "");
    live.replaceChildren(epoch, ...charts);
  }

  function drawControls() {
    const n = model.get("unit_count");
    slider.max = String(n);
    slider.value = String(model.get("top_k"));
    slider.setAttribute("aria-valuemax", String(n));
    sliderValue.textContent = String(model.get("top_k"));
    sliderText.textContent = `unfreeze top k ${model.get("unit_name")} `;
    bnBox.checked = model.get("batchnorm_frozen");
    loraBox.checked = model.get("method") === "lora";
    status.textContent = model.get("status");
    pre.textContent = model.get("code");
    header.textContent = `${model.get("title")}: input → output`;
  }

  function all() { drawStrip(); drawLegend(); drawReadout(); drawControls(); drawLive(); }
  all();
  model.on("change:selected", () => { drawStrip(); drawControls(); });
  model.on("change:batchnorm_frozen", () => { drawStrip(); drawControls(); });
  model.on("change:method", () => { drawStrip(); drawControls(); });
  model.on("change:top_k", drawControls);
  model.on("change:readout", drawReadout);
  model.on("change:code", drawControls);
  model.on("change:status", drawControls);
  model.on("change:training", () => { drawStrip(); drawLive(); });
  model.on("change:history", drawLive);
  model.on("change:epoch_text", drawLive);
  const observer = typeof ResizeObserver !== "undefined" ? new ResizeObserver(() => drawStrip()) : null;
  if (observer) observer.observe(root);
  return () => { if (observer) observer.disconnect(); };
}

export default { render };
