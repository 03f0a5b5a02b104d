// minillm explain: the explorer page's script. Hand-written, no library, no network.
// It reads the JSON block "minillm-data" (written by minillm/explain/page.py) and draws the tokens,
// the attention heat maps, the logit lens, the experts and the next-token distribution.
// The sampling rules are minillm.decoding's (sample_next): logits / temperature, then top-k, then
// top-p, then softmax; temperature 0 is greedy. tests/integration/test_explain_browser.py checks
// this file's numbers against minillm's in headless Chromium.
(function () {
  "use strict";
  const started = performance.now();
  const data = JSON.parse(document.getElementById("minillm-data").textContent);

  // -- the packed arrays (little-endian, as page.py writes them) --------------------------------
  function buffer(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out.buffer;
  }
  const WEIGHT_SCALE = 65535;
  const logits = new Float32Array(buffer(data.logits));
  const lensIds = new Int32Array(buffer(data.lens.ids));
  const lensProbs = new Float32Array(buffer(data.lens.probs));
  const maps = data.maps.map(function (m) {
    return Object.assign({}, m, { cells: new Uint16Array(buffer(m.data)) });
  });
  const experts = data.experts && {
    chosen: new Int32Array(buffer(data.experts.chosen)),
    gates: new Float32Array(buffer(data.experts.gates)),
  };

  // -- labels ------------------------------------------------------------------------------------
  function visible(text) {
    return text.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
  }
  function esc(text) {
    return text.replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function vocabLabel(id) {
    return data.vocab ? visible(data.vocab[id]) : "#" + id;
  }
  function tokenLabel(tok) {
    return tok.bytes ? visible(tok.text) + " [" + tok.bytes + "]" : visible(tok.text);
  }

  // -- sampling: minillm.decoding.generation's top_k_filter, top_p_filter, sample_next ------------
  function distribution(temperature, topK, topP) {
    const V = logits.length;
    const probs = new Float64Array(V);
    if (temperature === 0) { // greedy: the first largest logit (torch.argmax)
      let best = 0;
      for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
      probs[best] = 1;
      return probs;
    }
    const z = new Float64Array(V);
    const t32 = Math.fround(temperature); // torch divides a float32 tensor by float32(τ), rounding to float32
    for (let i = 0; i < V; i++) z[i] = Math.fround(logits[i] / t32);
    if (topK) { // every logit below the k-th largest → -inf (ties with the k-th stay)
      const sorted = Float64Array.from(z).sort();
      const kth = sorted[V - Math.min(topK, V)];
      for (let i = 0; i < V; i++) if (z[i] < kth) z[i] = -Infinity;
    }
    if (topP !== null && topP !== undefined) { // keep the most likely tokens until their mass reaches p
      // A token goes when the mass of the more likely ones is >= p, i.e. when its tail (its own mass and
      // every less likely token's, summed from the least likely up in float64) is <= (1 - p) · total;
      // the most likely token always stays, and at p = 1 every token with non-zero probability does.
      const p = softmax(z);
      const order = Array.from(z.keys()).sort(function (a, b) { return z[b] - z[a] || a - b; });
      const tail = new Float64Array(V);
      let acc = 0;
      for (let j = V - 1; j >= 0; j--) { acc += p[order[j]]; tail[j] = acc; }
      for (let j = 1; j < V; j++) if (tail[j] <= (1 - topP) * tail[0]) z[order[j]] = -Infinity;
    }
    return softmax(z);
  }
  function softmax(z) {
    let max = -Infinity;
    for (let i = 0; i < z.length; i++) if (z[i] > max) max = z[i];
    const out = new Float64Array(z.length);
    let sum = 0;
    for (let i = 0; i < z.length; i++) {
      out[i] = z[i] === -Infinity ? 0 : Math.exp(z[i] - max);
      sum += out[i];
    }
    for (let i = 0; i < z.length; i++) out[i] /= sum;
    return out;
  }
  function sample(probs) {
    let u = Math.random(), last = 0;
    for (let i = 0; i < probs.length; i++) {
      if (probs[i] > 0) last = i;
      u -= probs[i];
      if (u < 0) return i;
    }
    return last; // rounding left a sliver of mass: the last token that had any
  }

  // -- page skeleton -----------------------------------------------------------------------------
  const app = document.getElementById("app");
  const cfg = data.model.config;
  const width = cfg.n_embd;
  const selfMap = maps[0];
  const facts = [
    data.model.class + " (" + data.model.family + ")",
    (cfg.n_layer || (cfg.n_encoder_layers + "+" + cfg.n_decoder_layers)) + " layers",
    selfMap.heads + " heads" + (selfMap.n_kv_head < selfMap.heads ? ", " + selfMap.n_kv_head + " K/V heads" : ""),
    "width " + width,
    "vocabulary " + data.vocab_size,
    data.model.parameters.toLocaleString("en") + " parameters",
  ];
  if (data.experts) facts.push(data.experts.n_experts + " experts, " + data.experts.top_k + " per token");
  if (selfMap.window) facts.push("window " + selfMap.window);
  app.innerHTML =
    "<h1>" + esc(data.title) + "</h1><p class='facts'>" + esc(facts.join(" · ")) + "</p>" +
    "<section><h2>Tokens</h2><p class='help'>As the tokenizer cut the text. Grey: a special or role " +
    "token; [hex]: the bytes of a token that is only part of a UTF-8 character.</p>" +
    (data.source ? "<div class='tokens' id='source-tokens'></div>" : "") +
    "<div class='tokens' id='tokens'></div></section>" +
    "<section><h2>Attention</h2><div class='controls'>" +
    (maps.length > 1 ? "<label>map <select id='map'></select></label>" : "") +
    "<label>layer <select id='layer'></select></label><label>head <select id='head'></select></label></div>" +
    "<p class='help' id='gqa'></p><div id='thumbs'></div>" +
    "<p class='readout' id='readout'>Hover a cell: query → key, and the weight.</p>" +
    "<div class='scroll'><svg id='heatmap'></svg></div>" +
    "<p class='help'>Row = the query (the token reading), column = the key (the token read); " +
    "each row sums to 1. Hatched: cells the causal rule (or the window) hides. Colour ∝ √weight.</p></section>" +
    "<section><h2>Logit lens</h2><p class='help'>What each layer's output would predict for the next " +
    "token if decoding stopped there: the final norm and the output layer applied to it. Top token and " +
    "its probability; hover for the top " + data.lens.top + ". Bold: it is the token that follows in the " +
    "text.</p><div class='scroll'><table id='lens'></table></div></section>" +
    (data.experts ? "<section><h2>Experts</h2><p class='help'>The experts each token went to, with their " +
      "gates, in each mixture-of-experts layer.</p><div class='scroll'><table id='experts'></table></div></section>" : "") +
    "<section><h2>Next token</h2><p class='help'>The distribution after the last token, recomputed here " +
    "from the model's logits with minillm's rules: logits / temperature, then top-k, then top-p " +
    "(temperature 0 = greedy).</p><div class='controls'>" +
    "<label>temperature <input id='temperature' type='range' min='0' max='2' step='0.05'>" +
    "<span id='temperature-value'></span></label>" +
    "<label>top-k <input id='top-k' type='number' min='0' step='1'> <small>(0 = off)</small></label>" +
    "<label>top-p <input id='top-p' type='range' min='0.01' max='1' step='0.01'><span id='top-p-value'></span></label>" +
    "<button id='sample'>sample</button><button id='sample-100'>sample 100</button></div>" +
    "<p class='readout' id='sampled'></p><p class='help' id='kept'></p><div id='dist'></div></section>";

  function tokensOf(kind) {
    return kind === "source" ? data.source : data.tokens;
  }
  function drawTokens(id, tokens, name) {
    const el = document.getElementById(id);
    el.innerHTML = (name ? "<span class='row-name'>" + name + "</span>" : "") + tokens.map(function (t, i) {
      const cls = "tok" + (t.special ? " special" : "") + (t.bytes ? " partial" : "");
      return "<span class='" + cls + "' data-i='" + i + "' title='position " + i + ", id " + t.id + "'>" +
        "<sub>" + i + "</sub>" + esc(tokenLabel(t)) + "</span>";
    }).join("");
  }
  if (data.source) drawTokens("source-tokens", data.source, "source (encoder)");
  drawTokens("tokens", data.tokens, data.source ? "target (decoder)" : "");

  // -- attention ---------------------------------------------------------------------------------
  const state = { map: 0, layer: 0, head: -1 }; // head -1: the mean of the heads
  function weight(m, layer, head, q, k) { // 0 for a hidden cell
    if (m.causal && k > q) return 0;
    const per = m.causal ? m.t_q * (m.t_q + 1) / 2 : m.t_q * m.t_k;
    const cell = m.causal ? q * (q + 1) / 2 + k : q * m.t_k + k;
    return m.cells[(layer * m.heads + head) * per + cell] / WEIGHT_SCALE;
  }
  function shown(m, layer, head, q, k) {
    if (head >= 0) return weight(m, layer, head, q, k);
    let s = 0;
    for (let h = 0; h < m.heads; h++) s += weight(m, layer, h, q, k);
    return s / m.heads;
  }
  function hidden(m, q, k) {
    if (!m.causal) return false;
    return k > q || (m.window && q - k >= m.window);
  }
  function colour(w) {
    return "hsl(215,85%," + (98 - 62 * Math.sqrt(w)).toFixed(1) + "%)";
  }
  function lensColour(p) { // light enough for the text on it
    return "hsl(145,55%," + (97 - 38 * p).toFixed(1) + "%)";
  }
  function options(select, items, value) {
    select.innerHTML = items.map(function (it) {
      return "<option value='" + it[0] + "'>" + esc(it[1]) + "</option>";
    }).join("");
    select.value = String(value);
  }
  function headName(m, h) {
    if (h < 0) return "mean of heads";
    if (m.n_kv_head < m.heads) return "head " + h + " (K/V head " + Math.floor(h / (m.heads / m.n_kv_head)) + ")";
    return "head " + h;
  }
  function setupAttention() {
    const m = maps[state.map];
    if (maps.length > 1) options(document.getElementById("map"), maps.map(function (x, i) { return [i, x.name]; }), state.map);
    const layers = [];
    for (let l = 0; l < m.layers; l++) layers.push([l, "layer " + (l + 1) + " of " + m.layers]);
    options(document.getElementById("layer"), layers, state.layer);
    const heads = [[-1, "mean of heads"]];
    for (let h = 0; h < m.heads; h++) heads.push([h, headName(m, h)]);
    options(document.getElementById("head"), heads, state.head);
    const gqa = document.getElementById("gqa");
    if (m.n_kv_head < m.heads) {
      const g = m.heads / m.n_kv_head, groups = [];
      for (let j = 0; j < m.n_kv_head; j++) groups.push("query heads " + j * g + "–" + ((j + 1) * g - 1) + " share K/V head " + j);
      gqa.textContent = "Grouped-query attention: " + groups.join("; ") + ". Thumbnails of one group share a frame colour.";
    } else {
      gqa.textContent = m.name + ": " + m.heads + " heads, each with its own keys and values. Click a thumbnail to open it.";
    }
  }
  function drawThumbs() {
    const m = maps[state.map], box = document.getElementById("thumbs");
    box.innerHTML = "";
    for (let h = -1; h < m.heads; h++) {
      const c = document.createElement("canvas");
      c.width = m.t_k; c.height = m.t_q;
      c.className = "thumb" + (h === state.head ? " chosen" : "");
      c.title = headName(m, h);
      if (m.n_kv_head < m.heads && h >= 0) c.style.borderColor = "hsl(" + (Math.floor(h / (m.heads / m.n_kv_head)) * 67 % 360) + ",70%,45%)";
      const ctx = c.getContext("2d"), img = ctx.createImageData(m.t_k, m.t_q);
      for (let q = 0; q < m.t_q; q++) for (let k = 0; k < m.t_k; k++) {
        const o = 4 * (q * m.t_k + k), off = hidden(m, q, k), v = off ? 0 : Math.sqrt(shown(m, state.layer, h, q, k));
        img.data[o] = off ? 225 : 250 - 230 * v; img.data[o + 1] = off ? 225 : 250 - 170 * v;
        img.data[o + 2] = off ? 225 : 252 - 60 * v; img.data[o + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      c.addEventListener("click", function () { state.head = h; document.getElementById("head").value = String(h); draw(); });
      box.appendChild(c);
    }
  }
  function drawHeatmap() {
    const m = maps[state.map], rows = tokensOf(m.rows), cols = tokensOf(m.cols);
    const cell = Math.max(4, Math.min(26, Math.floor(640 / Math.max(m.t_q, m.t_k))));
    const labels = cell >= 10, left = labels ? 90 : 4, top = labels ? 70 : 4;
    const parts = ["<defs><pattern id='hatch' width='4' height='4' patternUnits='userSpaceOnUse' patternTransform='rotate(45)'>" +
      "<rect width='4' height='4' fill='#eee'/><line x1='0' y1='0' x2='0' y2='4' stroke='#bbb' stroke-width='1.5'/></pattern></defs>"];
    if (labels) {
      rows.forEach(function (t, q) {
        parts.push("<text class='label' x='" + (left - 4) + "' y='" + (top + q * cell + cell * 0.7) + "' text-anchor='end'>" + esc(tokenLabel(t)) + "</text>");
      });
      cols.forEach(function (t, k) {
        const x = left + k * cell + cell * 0.7;
        parts.push("<text class='label' x='" + x + "' y='" + (top - 4) + "' transform='rotate(-60 " + x + " " + (top - 4) + ")'>" + esc(tokenLabel(t)) + "</text>");
      });
    }
    for (let q = 0; q < m.t_q; q++) for (let k = 0; k < m.t_k; k++) {
      const x = left + k * cell, y = top + q * cell;
      if (hidden(m, q, k)) {
        parts.push("<rect class='cell masked' data-q='" + q + "' data-k='" + k + "' x='" + x + "' y='" + y + "' width='" + cell + "' height='" + cell + "' fill='url(#hatch)'/>");
      } else {
        const w = shown(m, state.layer, state.head, q, k);
        parts.push("<rect class='cell' data-q='" + q + "' data-k='" + k + "' data-w='" + w.toFixed(6) + "' x='" + x + "' y='" + y + "' width='" + cell + "' height='" + cell + "' fill='" + colour(w) + "'/>");
      }
    }
    const svg = document.getElementById("heatmap");
    svg.setAttribute("width", left + m.t_k * cell + 2);
    svg.setAttribute("height", top + m.t_q * cell + 2);
    svg.innerHTML = parts.join("");
  }
  function draw() {
    drawThumbs();
    drawHeatmap();
  }
  document.getElementById("heatmap").addEventListener("mouseover", function (ev) {
    const t = ev.target;
    if (!t.classList || !t.classList.contains("cell")) return;
    const m = maps[state.map], q = +t.dataset.q, k = +t.dataset.k;
    const qt = esc(tokenLabel(tokensOf(m.rows)[q])), kt = esc(tokenLabel(tokensOf(m.cols)[k]));
    const where = m.name + ", layer " + (state.layer + 1) + ", " + headName(m, state.head);
    const out = document.getElementById("readout");
    if (t.classList.contains("masked")) {
      const why = k > q ? "the causal rule: a query sees only earlier keys" : "outside the window of " + m.window;
      out.innerHTML = "query " + q + " «" + qt + "» → key " + k + " «" + kt + "»: hidden (" + why + ")";
    } else {
      out.innerHTML = "query " + q + " «" + qt + "» → key " + k + " «" + kt + "»: <b class='weight'>" + t.dataset.w + "</b> (" + esc(where) + ")";
    }
  });
  if (maps.length > 1) document.getElementById("map").addEventListener("change", function (ev) {
    state.map = +ev.target.value; state.layer = 0; setupAttention(); draw();
  });
  document.getElementById("layer").addEventListener("change", function (ev) { state.layer = +ev.target.value; draw(); });
  document.getElementById("head").addEventListener("change", function (ev) { state.head = +ev.target.value; draw(); });
  setupAttention();
  draw();

  // -- logit lens and experts --------------------------------------------------------------------
  (function drawLens() {
    const T = data.tokens.length, top = data.lens.top, html = ["<tr><th></th>"];
    data.tokens.forEach(function (t, i) { html.push("<th title='position " + i + "'>" + esc(tokenLabel(t)) + "</th>"); });
    html.push("</tr>");
    for (let l = 0; l < data.lens.layers; l++) {
      html.push("<tr><th>layer " + (l + 1) + "</th>");
      for (let i = 0; i < T; i++) {
        const o = (l * T + i) * top, id = lensIds[o], p = lensProbs[o];
        const tips = [];
        for (let j = 0; j < top; j++) tips.push(vocabLabel(lensIds[o + j]) + "  " + lensProbs[o + j].toFixed(4));
        const next = i + 1 < T && data.tokens[i + 1].id === id;
        html.push("<td class='lens" + (next ? " hit" : "") + "' data-layer='" + l + "' data-pos='" + i + "' title='" + esc(tips.join("\n")) +
          "' style='background:" + lensColour(p) + "'>" + esc(vocabLabel(id)) + "<small>" + p.toFixed(2) + "</small></td>");
      }
      html.push("</tr>");
    }
    document.getElementById("lens").innerHTML = html.join("");
  })();
  if (data.experts) (function drawExperts() {
    const T = data.tokens.length, k = data.experts.top_k, html = ["<tr><th></th>"];
    data.tokens.forEach(function (t) { html.push("<th>" + esc(tokenLabel(t)) + "</th>"); });
    html.push("</tr>");
    data.experts.layers.forEach(function (layer, j) {
      html.push("<tr><th>layer " + (layer + 1) + "</th>");
      for (let i = 0; i < T; i++) {
        const cells = [];
        for (let s = 0; s < k; s++) {
          const o = (j * T + i) * k + s;
          cells.push("<span class='expert' style='background:hsl(" + (experts.chosen[o] * 67 % 360) + ",70%,88%)'>e" +
            experts.chosen[o] + " " + experts.gates[o].toFixed(2) + "</span>");
        }
        html.push("<td>" + cells.join("<br>") + "</td>");
      }
      html.push("</tr>");
    });
    document.getElementById("experts").innerHTML = html.join("");
  })();

  // -- the next-token distribution ---------------------------------------------------------------
  const ctl = {
    t: document.getElementById("temperature"),
    k: document.getElementById("top-k"),
    p: document.getElementById("top-p"),
  };
  ctl.t.value = data.sampling.temperature;
  ctl.k.value = data.sampling.top_k || 0;
  ctl.p.value = data.sampling.top_p;
  let current = null;
  function settings() {
    return [+ctl.t.value, Math.max(0, Math.floor(+ctl.k.value)) || null, +ctl.p.value];
  }
  function drawDistribution() {
    const s = settings();
    document.getElementById("temperature-value").textContent = s[0].toFixed(2);
    document.getElementById("top-p-value").textContent = s[2].toFixed(2);
    current = distribution(s[0], s[1], s[2]);
    const order = Array.from(current.keys()).filter(function (i) { return current[i] > 0; })
      .sort(function (a, b) { return current[b] - current[a] || a - b; });
    document.getElementById("kept").textContent = order.length + " of " + current.length +
      " tokens can be drawn" + (order.length > 20 ? "; the 20 most likely:" : ":");
    document.getElementById("dist").innerHTML = order.slice(0, 20).map(function (i) {
      return "<div class='bar' data-id='" + i + "' data-p='" + current[i].toPrecision(9) + "'><span class='name'>" +
        esc(vocabLabel(i)) + "</span><span class='fill' style='width:" + (current[i] * 100).toFixed(2) + "%'></span>" +
        "<span class='p'>" + current[i].toFixed(6) + "</span></div>";
    }).join("");
  }
  [ctl.t, ctl.k, ctl.p].forEach(function (el) {
    el.addEventListener("input", drawDistribution);
    el.addEventListener("change", drawDistribution);
  });
  document.getElementById("sample").addEventListener("click", function () {
    const i = sample(current);
    document.getElementById("sampled").innerHTML = "sampled: <b>" + esc(vocabLabel(i)) + "</b> (id " + i + ", p = " + current[i].toFixed(6) + ")";
  });
  document.getElementById("sample-100").addEventListener("click", function () {
    const counts = new Map();
    for (let n = 0; n < 100; n++) { const i = sample(current); counts.set(i, (counts.get(i) || 0) + 1); }
    const text = Array.from(counts.entries()).sort(function (a, b) { return b[1] - a[1]; })
      .map(function (e) { return esc(vocabLabel(e[0])) + " ×" + e[1]; }).join(", ");
    document.getElementById("sampled").innerHTML = "100 samples: " + text;
  });
  drawDistribution();

  window.minillmExplain = {
    data: data,
    distribution: function (temperature, topK, topP) { return Array.from(distribution(temperature, topK, topP)); },
    readyMs: performance.now() - started,
  };
  document.body.dataset.ready = "1";
})();
