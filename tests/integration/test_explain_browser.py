"""The explorer page in a real browser: headless Chromium driven by selenium, the network off.

Debian's ``chromium`` and ``chromium-driver`` packages and ``pip install -e ".[browser]"`` (selenium);
.ci/run installs them. Without them every test here is skipped, with the reason. Selenium is given
the driver's path, so it never tries to download one.

What a student would do, checked against Python: the heat map's cells exist after the scripts ran,
hovering a cell reports the weight the model used, the temperature slider moves the distribution to
the numbers minillm's own filters give, the sampling rules agree on a grid of settings, and the
screenshot is not blank.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import torch

from minillm.decoding.generation import top_k_filter, top_p_filter
from minillm.explain import explain, read_page
from minillm.models import GPT, GPTConfig, Llama, LlamaConfig, Transformer, TransformerConfig
from minillm.tokenizers import CharTokenizer

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[browser]'")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
if CHROMIUM is None or DRIVER is None:
    pytest.skip("no headless browser: apt-get install chromium chromium-driver", allow_module_level=True)

from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.slow  # a browser start and a dozen page loads: about 20 s in all
TOK = CharTokenizer.from_text("the quick brown fox jumps over a lazy dog.")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1800",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    yield driver
    driver.quit()


def _open(browser, path):
    browser.get(path.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "1"  # the script ran to its end
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0  # nothing fetched


@pytest.fixture(scope="module")
def gpt_page(tmp_path_factory):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=32, n_layer=2, n_head=3, n_embd=24)).eval()
    path = explain(model, TOK, "the lazy fox").save(tmp_path_factory.mktemp("pages") / "gpt.html")
    return path, read_page(path)


def test_heat_map_cells_and_hover_report_the_models_weight(browser, gpt_page):
    path, seen = gpt_page
    _open(browser, path)
    t = 12
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")) == t * t
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell.masked")) == t * (t - 1) // 2  # causal
    browser.execute_script(
        "const s = document.getElementById('layer'); s.value = '1'; s.dispatchEvent(new Event('change'))"
    )
    browser.execute_script(
        "const s = document.getElementById('head'); s.value = '2'; s.dispatchEvent(new Event('change'))"
    )
    for q, k in ((7, 3), (11, 11), (0, 0)):
        cell = browser.find_element(By.CSS_SELECTOR, f"#heatmap rect.cell[data-q='{q}'][data-k='{k}']")
        ActionChains(browser).move_to_element(cell).perform()
        readout = browser.find_element(By.ID, "readout").text
        shown = float(browser.find_element(By.CSS_SELECTOR, "#readout .weight").text)
        assert abs(shown - seen["maps"]["self-attention"][1, 2, q, k]) <= 5e-7, readout
        assert f"query {q} «{TOK.decode([seen['data']['tokens'][q]['id']]).replace(' ', '␣')}»" in readout
    ActionChains(browser).move_to_element(
        browser.find_element(By.CSS_SELECTOR, "rect[data-q='2'][data-k='5']")
    ).perform()
    assert "hidden (the causal rule" in browser.find_element(By.ID, "readout").text


def _python_distribution(logits, temperature, top_k, top_p):
    """minillm.decoding's sample_next, up to the softmax it draws from."""
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(), logits.numel()).double()
    z = torch.as_tensor(logits).float() / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    return torch.softmax(z.double(), dim=-1)


def test_temperature_slider_moves_the_distribution_to_pythons(browser, gpt_page):
    path, seen = gpt_page
    _open(browser, path)
    slider = browser.find_element(By.ID, "temperature")
    slider.click()  # focus it, then move it as a person would: five steps of 0.05 to the right of 1.00 …
    before = browser.find_element(By.CSS_SELECTOR, "#dist .bar").get_attribute("data-p")
    slider.send_keys(Keys.HOME)  # … after first going to 0 (greedy), the far left
    assert browser.find_element(By.ID, "temperature-value").text == "0.00"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#dist .bar")) == 1
    for _ in range(30):
        slider.send_keys(Keys.RIGHT)
    assert browser.find_element(By.ID, "temperature-value").text == "1.50"
    bars = browser.find_elements(By.CSS_SELECTOR, "#dist .bar")
    want = _python_distribution(torch.from_numpy(seen["logits"].copy()), 1.5, None, 1.0)
    assert len(bars) == min(20, TOK.vocab_size)
    for bar in bars:
        assert abs(float(bar.get_attribute("data-p")) - float(want[int(bar.get_attribute("data-id"))])) <= 1e-7
    assert bars[0].get_attribute("data-p") != before  # it moved


@pytest.mark.parametrize("temperature", [0.0, 0.3, 1.0, 1.7])
def test_sampling_rules_match_minillms_filters_on_a_grid(browser, temperature, tmp_path):
    torch.manual_seed(5)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=1, n_head=1, n_embd=16))
    with torch.no_grad():  # spread the logits so that every filter has something to cut
        model.lm_head.weight.mul_(40.0)
    path = explain(model, TOK, "a dog").save(tmp_path / "grid.html")
    _open(browser, path)
    logits = torch.from_numpy(read_page(path)["logits"].copy())
    for top_k in (None, 1, 3, 10, 100):
        for top_p in (0.05, 0.5, 0.9, 0.99, 1.0):
            got = browser.execute_script(
                "return window.minillmExplain.distribution(arguments[0], arguments[1], arguments[2])",
                temperature, top_k, top_p,
            )  # fmt: skip
            want = _python_distribution(logits, temperature, top_k, top_p)
            np.testing.assert_allclose(
                got, want.numpy(), rtol=0, atol=1e-12, err_msg=f"{temperature=} {top_k=} {top_p=}"
            )
            assert (np.asarray(got) > 0).sum() == int((want > 0).sum())  # the same tokens can be drawn


def test_sample_button_draws_a_token_that_can_be_drawn(browser, gpt_page):
    path, _ = gpt_page
    _open(browser, path)
    browser.execute_script(
        "const k = document.getElementById('top-k'); k.value = '2'; k.dispatchEvent(new Event('input'))"
    )
    allowed = {b.get_attribute("data-id") for b in browser.find_elements(By.CSS_SELECTOR, "#dist .bar")}
    assert len(allowed) == 2
    browser.find_element(By.ID, "sample").click()
    text = browser.find_element(By.ID, "sampled").text
    assert text.startswith("sampled: ") and text.split("id ")[1].split(",")[0] in allowed


def test_later_family_and_encoder_decoder_pages_render(browser, tmp_path):
    torch.manual_seed(6)
    c = LlamaConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=16, d_ff=16,
                    n_experts=4, expert_top_k=2)  # fmt: skip
    _open(browser, explain(Llama(c), TOK, "a lazy dog").save(tmp_path / "llama.html"))
    assert "query heads 0–1 share K/V head 0" in browser.find_element(By.ID, "gqa").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#experts .expert")) == 2 * 10 * 2  # layers × tokens × k
    model = Transformer(TransformerConfig(TOK.vocab_size, TOK.vocab_size, n_embd=16, n_head=2, n_encoder_layers=1,
                                          n_decoder_layers=1, d_ff=16, block_size=16))  # fmt: skip
    _open(browser, explain(model, TOK, "the fox", target=" dog").save(tmp_path / "seq2seq.html"))
    options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#map option")]
    assert options == ["encoder self-attention", "decoder self-attention", "cross-attention"]
    browser.execute_script(
        "const s = document.getElementById('map'); s.value = '2'; s.dispatchEvent(new Event('change'))"
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")) == 4 * 7  # target × source
    assert not browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.masked")  # cross-attention hides nothing


def test_screenshot_is_not_blank(browser, gpt_page):
    from PIL import Image

    path, _ = gpt_page
    _open(browser, path)
    pixels = np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L"))
    assert (pixels < 200).mean() > 0.02 and len(np.unique(pixels)) > 20  # text, a heat map, bars


def test_a_12_layer_12_head_page_on_128_tokens_opens_in_under_2_seconds(browser, tmp_path):
    vocab = CharTokenizer([chr(0x10000 + i) for i in range(50257)])
    torch.manual_seed(7)
    model = GPT(GPTConfig(vocab_size=50257, block_size=128, n_layer=12, n_head=12, n_embd=24))
    prompt = "".join(vocab.chars[(i * 7919) % 50257] for i in range(128))
    _open(browser, explain(model, vocab, prompt).save(tmp_path / "big.html"))
    seconds = browser.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd / 1000"
    )  # from the request to the end of the load event, the scripts included
    ready_ms = browser.execute_script("return window.minillmExplain.readyMs")  # the page's own script
    print(f"12 x 12 heads, 128 tokens: loaded in {seconds:.2f} s, script {ready_ms:.0f} ms")
    assert ready_ms < 2000 and seconds < 2.0, (seconds, ready_ms)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")) == 128 * 128
