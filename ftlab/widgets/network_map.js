// ftlab network map: a plain ES module for anywidget (no build step).
// The Python side owns the state; this file draws it and sends clicks back.

const MIN_BLOCK_PX = 10;
const GAP_PX = 2;

function widths(params, available) {
  // Width proportional to parameters, at least MIN_BLOCK_PX (water-filling over two passes).
  const n = params.length;
  let fixed = new Array(n).fill(false);
  let out = new Array(n).fill(MIN_BLOCK_PX);
  for (let pass = 0; pass < 4; pass++) {
    const room = available - fixed.reduce((s, f) => s + (f ? MIN_BLOCK_PX : 0), 0);
    const total = params.reduce((s, p, i) => s + (fixed[i] ? 0 : Math.max(p, 0)), 0) || 1;
    let changed = false;
    params.forEach((p, i) => {
      if (fixed[i]) return;
      const w = (Math.max(p, 0) / total) * room;
      if (w < MIN_BLOCK_PX) { fixed[i] = true; changed = true; out[i] = MIN_BLOCK_PX; } else { out[i] = w; }
    });
    if (!changed) break;
  }
  return out;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(n) { return Number(n).toLocaleString("en-US"); }

function sparkline(values, color, dashed) {
  if (!values || values.length === 0) return "";
  const w = 220, h = 60, lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  const pts = values.map((v, i) => {
    const x = values.length === 1 ? w / 2 : (i / (values.length - 1)) * (w - 8) + 4;
    const y = h - 4 - ((v - lo) / span) * (h - 8);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(" ");
  return `<polyline fill="none" stroke="${color}" stroke-width="2" ${dashed ? 'stroke-dasharray="4 3"' : ""} points="${pts}"/>`;
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
    const available = Math.max(400, (root.clientWidth || 900) - 16) - GAP_PX * (blocks.length + 2);
    const w = widths(blocks.map((b) => b.params), available);
    const widthOf = Object.fromEntries(blocks.map((b, i) => [b.name, w[i]]));
    const training = model.get("training");
    for (const stage of model.get("stages")) {
      const col = el("div", "ftlab-map-stage");
      const row = el("div", "ftlab-map-blocks");
      for (const name of stage.blocks) {
        const block = byName[name];
        const s = state(block, chosen);
        const box = el("div", `ftlab-map-block ftlab-${s}${training && s !== "frozen" ? " ftlab-lit" : ""}`);
        box.style.width = `${widthOf[name].toFixed(1)}px`;
        box.dataset.block = name;
        box.dataset.state = s;
        box.title = `${name}: ${fmt(block.params)} parameters (${s})`;
        if (widthOf[name] > 46) box.append(el("span", "ftlab-map-name", name.replace(/^transformer_layer_/, "L")));
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
    }), el("span", "ftlab-map-hint", "width ∝ parameters · click a block or a stage name"));
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
      box.innerHTML = `<div class="ftlab-map-chart-title">${m} (training solid, validation dashed)</div>` +
        `<svg width="220" height="60">${sparkline(history[m], "#1f6fb4", false)}${sparkline(history["val_" + m], "#e07b00", true)}</svg>`;
      return box;
    });
    live.replaceChildren(el("div", "ftlab-map-epoch", model.get("epoch_text") || ""), ...charts);
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
