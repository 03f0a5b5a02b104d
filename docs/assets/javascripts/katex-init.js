// Typeset the math that pymdownx.arithmatex (generic mode) wraps in <span|div class="arithmatex">,
// with the KaTeX copy under assets/vendor/katex (no CDN: the site renders offline).
(function () {
  function typeset(root) {
    root.querySelectorAll(".arithmatex").forEach(function (el) {
      if (el.dataset.typeset) return;
      var tex = el.textContent.trim();
      var display = el.tagName === "DIV";
      // arithmatex keeps the delimiters: \( ... \) inline, \[ ... \] display
      tex = tex.replace(/^\\[(\[]/, "").replace(/\\[)\]]$/, "");
      try {
        katex.render(tex, el, { displayMode: display, throwOnError: false, strict: false });
        el.dataset.typeset = "1";
      } catch (err) {
        console.error("KaTeX:", err, tex);
      }
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function (d) { typeset(d.body || document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { typeset(document.body); });
  }
})();
