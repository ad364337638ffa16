"""`python -m model_server (--model PATH | --span-model PATH | --detector | --asr | --chat-standin) --port N [--fail-first N] [--delay S]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m model_server", description="Serve a persisted annoflow model (scikit-learn classes or entity spans), the reference detector or the reference speech recogniser over HTTP.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="A scikit-learn model file (<version>.pkl) or its folder (with current.json).")
    which.add_argument("--span-model", type=Path, help="A saved span model run, or its models/spans folder (with current.json).")
    which.add_argument("--detector", action="store_true", help="The reference object detector for the shapes example (no model file).")
    which.add_argument("--chat-standin", action="store_true",
                       help="A STAND-IN for a language model (OpenAI chat-completions protocol, keyword rules; see model_server/chat_standin.py).")
    which.add_argument("--asr", action="store_true", help="The reference speech recogniser (pocketsphinx, English model inside its wheel).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument("--fail-first", type=int, default=0, help="Answer the first N /predict calls with --fail-status.")
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--delay", type=float, default=0.0, help="Seconds to sleep in /predict (simulates a slow model).")
    p.add_argument("--delay-first", type=int, default=0, help="Only delay the first N /predict calls (0 = all).")
    p.add_argument("--log-level", default="warning")
    s = p.add_argument_group("chat stand-in (--chat-standin)")
    s.add_argument("--rules", default="", help='Keyword rules, e.g. "spam=check,subscribe;ham=song,love" (label order kept).')
    s.add_argument("--default", help="Single-label answer when no keyword matches (default: the first rule's label).")
    s.add_argument("--accuracy", type=float, default=1.0, help="Share of items answered right (a seeded hash of the text decides which).")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--model-name", default="chat-standin")
    s.add_argument("--position-bias", action="store_true", help="Pairwise: always answer \"A\" (the response shown first).")
    s.add_argument("--leniency", type=int, default=0, help="Rating: points added to every score (kept on the scale).")
    for flag in ("malformed", "unknown-label", "html", "error", "slow", "rate-limit", "tie"):
        s.add_argument(f"--{flag}-on", metavar="WORD", help=f"Items whose text contains WORD get the {flag.replace('-', ' ')} behaviour.")
    s.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds of a 429.")
    s.add_argument("--rate-limit-times", type=int, default=1, help="How many times the same text is answered 429.")
    s.add_argument("--fence", action="store_true", help="Wrap every answer in a ```json fence with prose around it.")
    s.add_argument("--api-key", help="Answer 401 to chat requests without `Authorization: Bearer <this key>`.")
    a = p.parse_args(argv)

    import uvicorn

    if a.chat_standin:
        from model_server.chat_standin import (
            StandinRules,
            create_chat_standin,
            parse_rules,
        )

        rules = StandinRules(parse_rules(a.rules), a.default, a.accuracy, a.seed, a.model_name, a.malformed_on, a.unknown_label_on,
                             a.html_on, a.slow_on, a.delay, a.rate_limit_on, a.error_on, a.retry_after, a.rate_limit_times, a.fence,
                             a.api_key, position_bias=a.position_bias, leniency=a.leniency, tie_on=a.tie_on)
        uvicorn.run(create_chat_standin(rules), host=a.host, port=a.port, log_level=a.log_level, access_log=False)
        return
    from model_server.app import (
        Hooks,
        create_app,
        create_asr_app,
        create_detect_app,
        create_span_app,
    )

    hooks = Hooks(a.fail_first, a.fail_status, a.delay, a.delay_first)
    if a.model:
        app = create_app(a.model, hooks)
    elif a.span_model:
        app = create_span_app(a.span_model, hooks)
    else:
        app = create_asr_app(hooks) if a.asr else create_detect_app(hooks)
    uvicorn.run(app, host=a.host, port=a.port, log_level=a.log_level, access_log=False)


if __name__ == "__main__":
    main()
