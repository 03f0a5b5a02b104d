"""See inside a model: one offline HTML page per model and prompt (``minillm explain``).

Report §1.2.1 made visible: the tokens, every layer's and head's attention, what each layer would
predict (the logit lens), which experts each token went to, and the next-token distribution under
temperature, top-k and top-p, recomputed in the page by minillm.decoding's rules.

    trace.py      one forward pass → the numbers (hooks on the model's own layers, nothing changed)
    attention.py  the attention weights recomputed the explicit way from each layer's input
    page.py       the numbers → one self-contained HTML file (page.js, page.css inline), and back

Docs: docs/explain.md.
"""

from minillm.explain.page import Explanation, explain, read_page

__all__ = ["Explanation", "explain", "read_page"]
