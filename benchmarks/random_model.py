"""A toy stand-in for a real model, to check the real-model path without a download: GSM8K-format problems,
converted by synth.py convert to text and to code steps, and a Qwen2-architecture checkpoint with random weights
and a byte-level BPE tokenizer (the `tokenizers` library, trained offline on those problems) with a chat template.
tests/test_realmodel.py and benchmarks/gpu_check.sh run loop.py on it.

  python benchmarks/random_model.py --out runs/real --problems 64 --hidden 256 --layers 4

writes OUT/gsm8k.jsonl (GSM8K's format: a question, an answer with <<a+b=c>> annotations and "#### N"),
OUT/text.jsonl and OUT/code.jsonl (synth.py convert --format text / code) and OUT/qwen (the checkpoint).
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def gsm8k_records(n):
    """n GSM8K-format problems: a question and a calculator-annotated answer ending in '#### N'."""
    out = []
    for i in range(n):
        a, b, k = 3 + i, 2 + i % 5, 2 + i % 2
        c, d = a + b, (a + b) * k
        out.append({"question": f"Ann has {a} pens. She buys {b} more, then gets {k} times as many. How many pens?",
                    "answer": f"Ann has {a}+{b} = <<{a}+{b}={c}>>{c} pens.\nThen {c}*{k} = <<{c}*{k}={d}>>{d} pens.\n"
                              f"#### {d}"})
    return out


def build_checkpoint(d, texts, hidden, layers):
    """A random-weight Qwen2 model and a byte-level BPE tokenizer trained on `texts`, with a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=[
        "<|endoftext|>", "<|im_start|>", "<|im_end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHAT
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=hidden // 16, num_key_value_heads=hidden // 32, max_position_embeddings=2048,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    Qwen2ForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder to write the problems and OUT/qwen into")
    ap.add_argument("--problems", type=int, default=8, help="GSM8K-format problems to write")
    ap.add_argument("--hidden", type=int, default=64, help="hidden size (a multiple of 32)")
    ap.add_argument("--layers", type=int, default=2, help="transformer layers")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gsm8k_records(args.problems)))
    for fmt in ("text", "code"):
        subprocess.run([sys.executable, str(ROOT / "synth.py"), "convert", "--kind", "gsm8k", "--in",
                        str(out / "gsm8k.jsonl"), "--out", str(out / f"{fmt}.jsonl"), "--format", fmt], check=True)
    texts = [json.loads(line)[k] for fmt in ("text", "code") for line in (out / f"{fmt}.jsonl").read_text().splitlines()
             for k in ("question", "solution")]
    build_checkpoint(out / "qwen", texts + [CHAT, "Let's think step by step and solve the problem with code"] * 3,
                     args.hidden, args.layers)
    print(f"wrote {out}/gsm8k.jsonl, text.jsonl, code.jsonl and a random Qwen2 ({args.hidden} x {args.layers}) in {out}/qwen")


if __name__ == "__main__":
    main()
