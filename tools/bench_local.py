"""Benchmark: agentloop's local provider against raw llama-cpp-python, in one process.

The same atomic step prompts (eca and life, as agentloop's worker writes them) go through
  raw       llama_cpp.Llama.create_completion on the already-rendered prompt text,
  agentloop get_model("local/<name>").complete(messages)  (render + lock + retry wrapper),
  litellm   litellm.completion(model="local/<name>")       (the custom-provider route),
all on the one loaded model, greedy. Rounds alternate between the routes so that load from
other processes hits them alike; the best round of each is reported (the least disturbed).

    .venv/bin/python tools/bench_local.py [--model gemma3-270m] [--prompts 48] [--rounds 3] [--no-litellm]
"""

from __future__ import annotations

import argparse
import random
import time


def step_messages(n: int, seed: int = 0) -> list[list[dict[str, str]]]:
    """`n` tape-condition step requests: eca rules 30/90/110 and life (a quarter each), from seeded instances."""
    from agentloop.scenarios import get_scenario, parse_params

    rng = random.Random(seed)
    out = []
    specs = [("eca", {"rule": r, "width": 16, "steps": 1}) for r in (30, 90, 110)] + [("life", {"rows": 6, "cols": 6})]
    # In blocks, as an episode asks them: the rules stay the same for a while, so llama.cpp
    # reuses the cached prompt prefix (interleaving the sets would re-read every prompt whole).
    while len(out) < n:
        name, params = specs[len(out) * len(specs) // n]
        sc = get_scenario(name)
        inst = sc.generate(parse_params(sc, params), rng.randrange(10_000))
        state = sc.initial_state(inst)
        step = rng.choice(list(sc.steps(inst))[: 16])
        out.append([
            {"role": "system", "content": sc.rules(inst)},
            {"role": "user", "content": sc.step_prompt(inst, step, sc.window(inst, state, step))},
        ])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="local model name (default: the default local model)")
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-litellm", action="store_true", help="skip the litellm route")
    a = ap.parse_args()

    from agentloop.models import get_model
    from agentloop.models._weights import DEFAULT

    name = f"local/{a.model or DEFAULT}"
    model = get_model(name)
    llm = model.inner.load()
    batch = step_messages(a.prompts)
    rendered = [model.inner.render(m) for m in batch]

    def raw() -> tuple[int, int]:
        toks = 0
        for r in rendered:
            out = llm.create_completion(r.prompt, max_tokens=r.max_tokens, stop=list(r.stop), temperature=0.0, top_k=1)
            toks += out["usage"]["total_tokens"]
        return len(rendered), toks

    def ours() -> tuple[int, int]:
        toks = 0
        for m in batch:
            c = model.complete(m)
            toks += c.tokens_in + c.tokens_out
        return len(batch), toks

    routes = {"raw llama-cpp-python": raw, "agentloop provider": ours}
    if not a.no_litellm:
        from agentloop.models._litellm import import_litellm
        from agentloop.models.local import register_litellm

        litellm = import_litellm()
        register_litellm()

        def via_litellm() -> tuple[int, int]:
            toks = 0
            for m in batch:
                toks += litellm.completion(model=name, messages=m).usage.total_tokens
            return len(batch), toks

        routes["litellm custom provider"] = via_litellm

    for fn in routes.values():  # warm-up: caches, lazy imports, first-call allocations
        fn()
    best: dict[str, tuple[float, int, int]] = {}
    for _ in range(a.rounds):
        for label, fn in routes.items():
            t = time.perf_counter()
            calls, toks = fn()
            dt = time.perf_counter() - t
            if label not in best or dt < best[label][0]:
                best[label] = (dt, calls, toks)

    print(f"model {name} (real, in-process) · {a.prompts} atomic step prompts (eca rules 30/90/110, life) · "
          f"best of {a.rounds} alternating rounds")
    base_dt, base_calls, base_toks = best["raw llama-cpp-python"]
    for label, (dt, calls, toks) in best.items():
        ratio = (calls / dt) / (base_calls / base_dt)
        print(f"  {label:<24} {calls / dt:7.2f} calls/s  {toks / dt:8.1f} tokens/s  ratio to raw {ratio:.3f}")


if __name__ == "__main__":
    main()
