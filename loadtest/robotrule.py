"""The robots' rate rule, checked from the outside: were the 429s as specified?

docs/api.md, "Group robots": each robot may post `per_min` times (20) in any
60 s; the post over it throttles the robot for `throttle_s` (10 minutes),
counted from that post; until then every post is answered `429` with
`Retry-After`, the seconds left rounded up, and refused posts do not extend
the throttle. When it ends, the robot's minute starts afresh.

The load tester sees, per post, when it was sent (`sent_s`), when its answer
came (`answered_s`), the status and the `Retry-After` header. The server
decided in between, so each post gives bounds, never a guess:

* a 429 with `Retry-After: r` puts the throttle's end in (sent + r − 1,
  answered + r]; every 429 of one throttle must agree on one end (the
  intersection of their bounds is not empty): a countdown that stops, jumps or
  restarts breaks it;
* the post that begins a throttle says `r = throttle_s`, and at least
  `per_min` posts of the robot were answered 200 in the 60 s before it (those
  sent before its answer came; a robot's posts may be in flight together);
* no post is answered 200 while a throttle surely runs (sent after its start,
  answered before its end), and no `per_min + 1` posts are answered 200 within
  60 s (the first sent and the last answered less than 60 s apart);
* every post is answered 200 or 429, and every 429 carries `Retry-After` as an
  integer from 1 to `throttle_s`.

Times are seconds on one monotonic clock; `SLACK_S` absorbs the float
rounding of the server's clock readings. Pure code: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

SLACK_S = 0.05
MAX_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class Post:
    robot: int
    sent_s: float
    answered_s: float
    status: int  # 0: no answer (the connection failed)
    retry_after: str | None = None


@dataclass(slots=True)
class Throttle:
    """One throttle of one robot: bounds on its end, and the post that began it."""

    end_lo: float
    end_hi: float
    began: Post

    def agrees(self) -> bool:
        return self.end_lo <= self.end_hi + SLACK_S


@dataclass(slots=True)
class RuleVerdict:
    posts: int = 0
    ok_200: int = 0
    limited_429: int = 0
    other: int = 0
    throttles: int = 0
    robots_throttled: int = 0
    retry_after_min: int | None = None
    retry_after_max: int | None = None
    violations: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def violate(self, text: str) -> None:
        self.violations += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def to_json(self) -> dict:
        return {"ok": self.ok, "posts": self.posts, "answered_200": self.ok_200,
                "answered_429": self.limited_429, "other": self.other,
                "throttles": self.throttles, "robots_throttled": self.robots_throttled,
                "retry_after_min_s": self.retry_after_min,
                "retry_after_max_s": self.retry_after_max,
                "violations": self.violations, "examples": list(self.examples)}


def check_rule(posts: Iterable[Post], per_min: int, throttle_s: int) -> RuleVerdict:
    """Check every robot's answers against the rule; see the module docstring."""
    verdict = RuleVerdict()
    by_robot: dict[int, list[Post]] = defaultdict(list)
    for post in posts:
        by_robot[post.robot].append(post)
    for robot in sorted(by_robot):
        mine = sorted(by_robot[robot], key=lambda p: p.sent_s)
        _count(verdict, mine, throttle_s)
        throttles = _throttles(verdict, mine, throttle_s)
        verdict.throttles += len(throttles)
        verdict.robots_throttled += bool(throttles)
        _check_200s(verdict, mine, throttles, per_min, throttle_s)
        _check_beginnings(verdict, mine, throttles, per_min)
    return verdict


def retry_after_s(post: Post) -> int | None:
    value = post.retry_after
    return int(value) if value is not None and value.isdigit() else None


def _count(verdict: RuleVerdict, posts: list[Post], throttle_s: int) -> None:
    for post in posts:
        verdict.posts += 1
        if post.status == 200:
            verdict.ok_200 += 1
            continue
        if post.status != 429:
            verdict.other += 1
            verdict.violate(f"robot {post.robot}: a post answered {post.status or 'nothing'}")
            continue
        verdict.limited_429 += 1
        r = retry_after_s(post)
        if r is None or not 1 <= r <= throttle_s:
            verdict.violate(f"robot {post.robot}: a 429 with Retry-After {post.retry_after!r}")
            continue
        verdict.retry_after_min = min(r, verdict.retry_after_min or r)
        verdict.retry_after_max = max(r, verdict.retry_after_max or r)


def _throttles(verdict: RuleVerdict, posts: list[Post], throttle_s: int) -> list[Throttle]:
    """The robot's throttles, from its 429s in the order they were sent."""
    out: list[Throttle] = []
    for post in posts:
        r = retry_after_s(post)
        if post.status != 429 or r is None:
            continue
        lo, hi = post.sent_s + r - 1, post.answered_s + r
        current = out[-1] if out else None
        if current is not None and post.sent_s <= current.end_hi + SLACK_S:
            current.end_lo, current.end_hi = max(current.end_lo, lo), min(current.end_hi, hi)
            if not current.agrees():
                verdict.violate(f"robot {post.robot}: Retry-After {r} at {post.sent_s:.3f} s "
                                "moves the throttle's end (a countdown that stopped, jumped "
                                "or restarted)")
                current.end_lo, current.end_hi = lo, hi  # go on from this answer
            continue
        out.append(Throttle(lo, hi, post))
        if r != throttle_s:
            verdict.violate(f"robot {post.robot}: a throttle began with Retry-After {r}, "
                            f"not {throttle_s}")
    return out


def _check_200s(verdict: RuleVerdict, posts: list[Post], throttles: list[Throttle],
                per_min: int, throttle_s: int) -> None:
    oks = [p for p in posts if p.status == 200]
    for post in oks:
        for t in throttles:
            if post.sent_s > t.end_hi - throttle_s + SLACK_S and \
                    post.answered_s < t.end_lo - SLACK_S:
                verdict.violate(f"robot {post.robot}: answered 200 at {post.sent_s:.3f} s, "
                                "during its throttle")
                break
    for first, last in zip(oks, oks[per_min:], strict=False):
        if last.answered_s - first.sent_s < 60 - SLACK_S:
            verdict.violate(f"robot {last.robot}: {per_min + 1} posts answered 200 within "
                            f"{last.answered_s - first.sent_s:.1f} s")
            break


def _check_beginnings(verdict: RuleVerdict, posts: list[Post], throttles: list[Throttle],
                      per_min: int) -> None:
    """A throttle begins only at the post over `per_min` in 60 s (the window starts
    afresh after the previous throttle)."""
    for i, t in enumerate(throttles):
        began = t.began
        after = throttles[i - 1].end_lo - SLACK_S if i else float("-inf")
        oks = sum(1 for p in posts if p.status == 200 and p.sent_s <= began.answered_s
                  and p.answered_s >= max(began.sent_s - 60 - SLACK_S, after))
        if oks < per_min:
            verdict.violate(f"robot {began.robot}: throttled at {began.sent_s:.3f} s after "
                            f"{oks} posts answered 200 in 60 s (the rule: {per_min})")


__all__ = ["SLACK_S", "Post", "RuleVerdict", "check_rule", "retry_after_s"]
