"""A deterministic evaluation set for AI-suggested contacts (bench/similar_eval.py uses it).

36 topics in 12 families of 3: topics of a family share vocabulary ("printer" is in offline, paper jam and toner
topics), and every case also carries words common to all support text. Titles and descriptions are paraphrased
from synonyms, shuffled and sprinkled with typos. Each topic has 3 to 5 active experts and one who left; experts
also resolve other topics (noise), generalists resolve a quarter of all cases across every topic, and anyone may
pick up a case now and then. Same seed, same set."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 12, 1, tzinfo=UTC)

# family: (shared words, [(topic words: each a tuple of synonyms), ...three topics])
FAMILIES: dict[str, tuple[tuple[str, ...], list[list[tuple[str, ...]]]]] = {
    "printer": (("printer", "print", "printing"), [
        [("offline",), ("queue", "spooler"), ("network", "ethernet"), ("unreachable", "disconnected")],
        [("paper",), ("jam", "jammed", "stuck"), ("tray", "feeder"), ("roller",)],
        [("toner", "cartridge"), ("faded", "streaks", "smudged"), ("colour", "color"), ("quality",)]]),
    "email": (("email", "mail", "outlook"), [
        [("bounce", "bounced", "undeliverable"), ("ndr",), ("recipient",), ("domain",)],
        [("mailbox",), ("full", "quota"), ("storage", "archive"), ("limit",)],
        [("calendar",), ("invite", "invitation", "meeting"), ("sync", "synchronise"), ("shared",)]]),
    "billing": (("invoice", "billing", "bill"), [
        [("tax", "vat"), ("rate",), ("wrong", "incorrect"), ("region",)],
        [("refund",), ("duplicate", "twice"), ("charged", "charge"), ("card",)],
        [("currency",), ("conversion", "exchange"), ("euro", "eur"), ("rounding",)]]),
    "login": (("login", "signin", "password"), [
        [("reset",), ("link", "token"), ("expired", "expires"), ("arrive", "received")],
        [("mfa", "multifactor"), ("authenticator",), ("code", "otp"), ("phone",)],
        [("locked", "lockout"), ("attempts",), ("account",), ("unlock",)]]),
    "network": (("network", "wifi", "connection"), [
        [("vpn",), ("tunnel",), ("drops", "disconnects"), ("client",)],
        [("dns",), ("resolve", "resolution"), ("hostname",), ("lookup",)],
        [("slow", "latency"), ("bandwidth", "throughput"), ("speed",), ("lag",)]]),
    "laptop": (("laptop", "notebook", "device"), [
        [("battery",), ("drain", "draining"), ("charge", "charging"), ("adapter", "charger")],
        [("screen", "display"), ("flicker", "flickering"), ("brightness",), ("monitor",)],
        [("keyboard",), ("keys", "key"), ("typing",), ("spill", "liquid")]]),
    "portal": (("portal", "website", "site"), [
        [("404",), ("page", "pages"), ("missing", "notfound"), ("broken", "dead")],
        [("upload",), ("attachment", "file"), ("size",), ("fails", "failing")],
        [("certificate", "ssl"), ("https", "tls"), ("warning", "insecure"), ("browser",)]]),
    "shipping": (("delivery", "shipment", "parcel"), [
        [("tracking",), ("number",), ("update", "status"), ("carrier", "courier")],
        [("damaged", "broken"), ("box", "packaging"), ("photo",), ("replacement",)],
        [("address",), ("change", "wrong"), ("redirect", "reroute"), ("postcode", "zip")]]),
    "phone": (("phone", "telephony", "call"), [
        [("voicemail",), ("greeting",), ("pin",), ("messages",)],
        [("echo",), ("audio", "sound"), ("quality", "choppy"), ("headset",)],
        [("forwarding", "forward"), ("extension",), ("transfer",), ("divert",)]]),
    "database": (("database", "sql", "server"), [
        [("backup",), ("restore",), ("job",), ("nightly",)],
        [("deadlock", "deadlocks"), ("timeout", "timeouts"), ("query", "queries"), ("blocking",)],
        [("disk",), ("space", "full"), ("log", "transaction"), ("grow", "growth")]]),
    "app": (("app", "mobile", "application"), [
        [("crash", "crashes"), ("startup", "launch"), ("android",), ("freeze",)],
        [("notification", "notifications"), ("push",), ("badge",), ("ios", "iphone")],
        [("update", "upgrade"), ("store",), ("version",), ("install", "installation")]]),
    "contract": (("contract", "subscription", "licence"), [
        [("renewal", "renew"), ("expiry", "expiring"), ("notice",), ("auto",)],
        [("seats", "seat"), ("add", "increase"), ("users",), ("assign", "assignment")],
        [("cancel", "cancellation"), ("terminate", "termination"), ("penalty",), ("early",)]]),
}
COMMON = ("error", "urgent", "customer", "users", "office", "fails", "working", "today", "yesterday", "again",
          "since", "morning", "several", "reported", "cannot", "problem", "help", "asap", "team", "issue")
TEMPLATES = ("{a} {b} {c}", "{c}: {a} {b}", "{a} - {b} {c}", "{b} {a} {c}")
EXPERTS = (3, 5)  # active experts per topic
GENERALISTS = 10
OTHERS = 60


@dataclass(frozen=True)
class Case:
    id: str
    topic: int
    title: str
    description: str
    resolved_by: str
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class Dataset:
    topics: int
    resolved: list[Case]
    open_cases: list[Case]
    experts: dict[int, set[str]]  # active experts per topic: the truth
    left: set[str]  # people who left (never to be suggested)


def _typo(rnd: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rnd.randrange(1, len(word) - 1)
    kind = rnd.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # swap
    if kind == 1:
        return word[:i] + word[i + 1:]  # drop
    return word[:i] + word[i] + word[i:]  # double


def _text(rnd: random.Random, shared: tuple[str, ...], words: list[tuple[str, ...]], typos: float) -> tuple[str, str]:
    own = [rnd.choice(syn) for syn in rnd.sample(words, rnd.randint(2, 3))]
    fam = rnd.sample(shared, rnd.randint(1, 2))
    title_words = [*own[:2], fam[0], *rnd.sample(COMMON, 1)]
    rnd.shuffle(title_words)
    a, b, c = title_words[0], " ".join(title_words[1:-1]), title_words[-1]
    title = rnd.choice(TEMPLATES).format(a=a, b=b, c=c)
    body = [*own, *fam, *rnd.sample(COMMON, rnd.randint(3, 6)), *(rnd.choice(syn) for syn in rnd.sample(words, 1))]
    rnd.shuffle(body)
    body = [_typo(rnd, w) if rnd.random() < typos else w for w in body]
    title = " ".join(_typo(rnd, w) if rnd.random() < typos / 2 else w for w in title.split())
    return title, " ".join(body) + "."


def generate(resolved: int = 5000, open_cases: int = 500, seed: int = 16, typos: float = 0.08) -> Dataset:
    rnd = random.Random(seed)
    topics = [(shared, words) for shared, group in FAMILIES.values() for words in group]
    people = iter(f"agent-{i:04d}" for i in range(10_000))
    experts = {t: {next(people) for _ in range(rnd.randint(*EXPERTS))} for t in range(len(topics))}
    left = {t: next(people) for t in range(len(topics))}
    generalists = [next(people) for _ in range(GENERALISTS)]
    others = [next(people) for _ in range(OTHERS)]
    all_experts = sorted(p for ps in experts.values() for p in ps)

    def resolver(topic: int) -> str:
        roll = rnd.random()
        if roll < 0.50:
            return rnd.choice(sorted(experts[topic]))
        if roll < 0.56:
            return left[topic]
        if roll < 0.81:
            return rnd.choice(generalists)
        if roll < 0.91:
            return rnd.choice(all_experts)  # experts also resolve other topics
        return rnd.choice(others)

    def case(n: int, is_open: bool) -> Case:
        topic = rnd.randrange(len(topics))
        title, description = _text(rnd, *topics[topic], typos)
        created = NOW - timedelta(days=rnd.uniform(0, 700))
        by = "" if is_open else resolver(topic)
        days = rnd.uniform(0.2, 3) if by in experts[topic] else rnd.uniform(1, 12)
        resolved_at = None if is_open or rnd.random() < 0.02 else min(NOW, created + timedelta(days=days))
        return Case(f"{'open' if is_open else 'case'}-{n:07d}", topic, title, description, by, created, resolved_at)

    return Dataset(len(topics), [case(i, False) for i in range(resolved)], [case(i, True) for i in range(open_cases)],
                   experts, set(left.values()))
