#!/usr/bin/env python3
"""Records reference encodings from Hugging Face `tokenizers` (Rust) for tokenizer_reference_test.cc.

Usage: python3 make_hf_reference.py REPO_ROOT OUTPUT.json
Covers the tiny test tokenizer on every golden string plus adversarial strings on all tokenizers (strings that the
golden file lacks: NUL bytes, long runs, combining marks, added-token fragments, rare scripts).
"""
import json
import os
import sys
import tarfile
import tempfile

import tokenizers


def adversarial_strings():
    s = [
        "a\x00b", "\x00", "\x00\x00 \x00x", "tab\t\x00nul",
        "a" * 3000, " " * 2000, "\n" * 500, "你" * 1000, "😀" * 300, "ab" * 1500, "1" * 1000, "." * 1000,
        "e\u0301\u0327 o\u0308\u0304 \u1100\u1161\u11a8 \u0041\u030a\u0301 \u0071\u0307\u0323",
        "ｆｕｌｌ\u3000width ＡＢＣ１２３", "İstanbul ǅemal ß ﬁ ẞ", "١٢٣ ४५६ ๗๘๙ 一二三", "สวัสดีครับ नमस्ते",
        "👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽", "\ufffd replacement \ufffd\ufffd", "\r\n\r\n\r\r\n \n\t\n",
        "<|im_start|><|im_start|>", "<|im_start", "im_end|>", " <|im_end|> ", "x<|endoftext|>y",
        "<think></think><think>", "<tool_call>{\"a\":1}</tool_call>", "<s></s><unk>", " <s> hello </s> ",
        "<|begin_of_text|>hi<|eot_id|>", "<｜User｜>hi<｜Assistant｜>", "<｜begin▁of▁sentence｜>",
        "▁▁leading metaspace▁", "  leading and trailing  ", "CamelCaseWordsAndALLCAPS snake_case_words",
        "don't won't it's I'M WE'LL THEY'RE YOU'VE HE'D", "'s 's's", "$1,234.56 -7e-3 0x1F 3/4 ½ ²",
        "https://example.com/a_b-c?d=e&f=g#h", "C++ -> x->y; a::b<T>() {}", "\u200b\u200c\u200d\ufeff",
        "\u00a0nbsp\u2009thin\u202fnarrow", "mixed 日本語 and English と한국어", "Ωμέγα ελληνικά", "עברית ערבית",
        "\U0001f600\U0001f601 \U00020000\U0002a6d6", "\u0301leading combining", "ǈǉǊ Åström",
    ]
    return s


def main():
    root, output = sys.argv[1], sys.argv[2]
    goldens = json.load(open(os.path.join(root, "tests/fixtures/golden_text.json")))
    tmp = tempfile.mkdtemp()
    with tarfile.open(os.path.join(root, "tests/fixtures/tokenizers.tar.xz")) as tar:
        tar.extractall(tmp)
    paths = {name: os.path.join(tmp, "tokenizers", name, "tokenizer.json")
             for name in ("qwen3", "llama3", "deepseek_v3", "llama2")}
    paths["tiny"] = os.path.join(root, "tests/fixtures/tiny-tokenizer/tokenizer.json")
    result = {"tokenizers_version": tokenizers.__version__, "cases": {}}
    for name, path in paths.items():
        tok = tokenizers.Tokenizer.from_file(path)
        texts = adversarial_strings()
        if name == "tiny":
            texts = [g["text"] for g in goldens["tokenizers"]["qwen3"]] + texts
        cases = []
        for text in texts:
            ids = tok.encode(text, add_special_tokens=False).ids
            cases.append({
                "text": text,
                "ids": ids,
                "ids_with_special": tok.encode(text, add_special_tokens=True).ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            })
        result["cases"][name] = cases
    with open(output, "w") as f:
        json.dump(result, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
