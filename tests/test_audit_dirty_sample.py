"""The shipped dirty sample: how it is made (a defect of every class inserted into the clean train
split) and what `sftwise audit` shows on it, each finding with file:line.

Rebuild it after changing the clean sample: ``python tests/test_audit_dirty_sample.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from sftwise.audit import audit
from sftwise.demo.sample import sample_dir, sample_paths


def build_dirty(base: Path) -> bytes:
    """The bytes of dirty.jsonl: the first 60 clean training lines with defects put between them."""
    train = base.joinpath("train.jsonl").read_text().splitlines()[:60]
    test = base.joinpath("test.jsonl").read_text().splitlines()
    recs = [json.loads(l) for l in train]
    SYS = recs[0]["systemInstruction"]
    def d(o): return json.dumps(o, ensure_ascii=False)
    def g(user, model, system=SYS, **extra):
        o = {"systemInstruction": system} if system else {}
        o["contents"] = [{"role": "user", "parts": [{"text": user}]}, {"role": "model", "parts": [{"text": model}]}]
        o.update(extra); return o
    lines = [l.encode() for l in train]
    ins = {}  # line index (0-based, before insertion) -> list of raw byte lines to put there
    def put(i, raw): ins.setdefault(i, []).append(raw if isinstance(raw, bytes) else raw.encode())
    r = recs
    put(2, d(g("Hello, where is my refund for order 31337?", '{"team": "billing", "priority": "normal"}')).replace('"role": "model",', '"role": "model"'))                                                          # SW100 invalid JSON
    put(4, d(g(r[4]["contents"][0]["parts"][0]["text"] + " (copy)", r[4]["contents"][1]["parts"][0]["text"], label="billing")))  # SW102 unknown field
    o = g("My invoice INV-2231 is wrong.", '{"team": "billing", "priority": "normal"}'); o["contents"][1] = {"role": "model"}; put(6, d(o))  # SW103
    o = g("The app crashes on the home screen.", "x"); o["contents"][1]["parts"] = '{"team": "technical", "priority": "normal"}'; put(8, d(o))  # SW104
    o = g("The parcel never arrived, order 55512.", '{"team": "shipping", "priority": "normal"}'); o["contents"][1]["role"] = "assistant"; put(10, d(o))  # SW105
    o = g("Please close my account.", '{"team": "account", "priority": "normal"}', system=None); o["contents"].insert(0, {"role": "system", "parts": [{"text": SYS["parts"][0]["text"]}]}); put(12, d(o))  # SW106
    put(14, d({"messages": [{"role": "system", "content": SYS["parts"][0]["text"]}, {"role": "user", "content": "I was billed twice for order 40213."}, {"role": "assistant", "content": '{"team": "billing", "priority": "normal"}'}]}))  # SW107
    put(16, d(g("Mon caf\u00e9 est froid, the coffee maker is broken.", '{"team": "shipping", "priority": "normal"}')).encode("latin-1"))  # SW108
    put(18, b"")                                                                                  # SW117 blank line
    put(19, d(["user", "The app freezes.", "model", "technical"]))                                    # SW101
    put(20, d({"question": "Where is my parcel?", "answer": '{"team": "shipping", "priority": "normal"}'}))  # SW115
    put(22, d(g("Refund the 40 dollars for the camera please.", "")))                                    # SW120 empty model text
    put(24, d(g("Sync stopped on my tablet.", '{"team": "technical", "priority": "normal"}', system={"parts": [{"text": ""}]})))  # SW121
    o = g("Hi team,", '{"team": "account", "priority": "normal"}'); o["contents"].insert(1, {"role": "user", "parts": [{"text": "I cannot log in since I changed my phone number."}]}); put(26, d(o))  # SW122
    o = g("The tracking number for order 77120 does not work.", "x"); o["contents"] = o["contents"][:1]; put(28, d(o))  # SW123
    o = g("My card was billed twice.", '{"team": "billing", "priority": "normal"}'); o["contents"].append({"role": "user", "parts": [{"text": "Any update?"}]}); put(30, d(o))  # SW124
    o = g("The export button gives error E404.", '{"team": "technical", "priority": "normal"}'); o["contents"].insert(0, {"role": "model", "parts": [{"text": "How can I help?"}]}); put(32, d(o))  # SW125 (+ SW122 not: model,user,model)
    o = g("Send me the invoice for May.", '{"team": "billing", "priority": "normal"}'); o["contents"][0]["parts"].append({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}); put(34, d(o))  # SW118
    put(36, d(g("Please change the delivery address for order 12345.", '{"team": "shipping", "priority": "normal"}', system=None)))  # SW302 missing system
    put(38, d(g("The discount code was not applied.", '{"team": "billing", "priority": "normal"}', system={"role": "system", "parts": [{"text": SYS["parts"][0]["text"].replace("JSON only", "JSON")}]})))  # SW303
    long = " ".join(["Thank you for contacting support. We have forwarded your ticket to the billing team, who will review the charge, check it against your invoice history and get back to you within two business days."] * 25)
    put(40, d(g("I was charged for a plan I cancelled.", long)))                                     # SW305 output outlier
    put(42, train[41])                                                                                # SW401 exact duplicate of line (train[41])
    o = json.loads(train[43]); o["contents"][1]["parts"][0]["text"] = '{"team": "technical", "priority": "high"}'; put(44, d(o))  # SW402 conflicting output
    put(46, test[0])                                                                                  # SW403 with --test test.jsonl
    put(48, d(g("Good morning, the keyboard arrived without its cable.", '{"team": "shipping", "priority": "normal"}')) + "\r")                                                                        # SW110 CRLF (the \r before \n)
    out = []
    for i, l in enumerate(lines):
        out.extend(ins.get(i, []))
        out.append(l)
    data = b"\xef\xbb\xbf" + b"\n".join(out) + b"\n" + d(r[0])[:70].encode()                   # SW109 BOM, SW111 truncated last line
    return data


# code -> the dirty.jsonl line it must be reported at (audited with --test test.jsonl --max-tokens 1024)
EXPECTED = {
    "SW100": 3, "SW102": 6, "SW103": 9, "SW104": 12, "SW105": 15, "SW106": 18, "SW107": 21, "SW108": 24,
    "SW109": 1, "SW117": 27, "SW101": 29, "SW115": 31, "SW120": 34, "SW121": 37, "SW122": 40, "SW123": 43,
    "SW124": 46, "SW125": 49, "SW118": 52, "SW302": 55, "SW303": 58, "SW201": 61, "SW305": 61, "SW401": 64,
    "SW402": 67, "SW110": 73, "SW111": 86,
}


def test_shipped_dirty_sample_is_what_the_builder_makes() -> None:
    assert sample_paths()["dirty"].read_bytes() == build_dirty(sample_dir()), "dirty.jsonl is stale: run python tests/test_audit_dirty_sample.py"


def test_dirty_sample_shows_every_class_with_file_and_line() -> None:
    p = sample_paths()
    report = audit(p["dirty"], test=p["test"], max_tokens=1024)
    located = {(f.code, f.line) for f in report.findings if f.file and f.file.endswith("dirty.jsonl")}
    missing = {code: line for code, line in EXPECTED.items() if (code, line) not in located}
    assert not missing, missing
    codes = {f.code for f in report.findings}
    assert {"SW202", "SW203", "SW301", "SW403"} <= codes  # distribution, estimate, size, overlap with test
    overlap = next(f for f in report.findings if f.code == "SW403")
    assert overlap.file.endswith("test.jsonl") and overlap.line == 1
    assert report.has_errors


if __name__ == "__main__":
    target = sample_paths()["dirty"]
    target.write_bytes(build_dirty(sample_dir()))
    print(f"wrote {target}")
