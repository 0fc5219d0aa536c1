"""User-name slugs: DNS-safe, kept when already safe, never shared by two names."""

import hashlib
import re

import pytest

from hub.spawners.slugs import MAX_SLUG_LENGTH, user_base_url, user_slug

DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("name, stem", [
    ("alice", None),
    ("bob-2", None),
    ("Alice", "alice"),
    ("alice.smith@lab.example", "alice-smith-lab-example"),
    ("2fast", "fast"),
    ("---", "u"),
    ("ünïcode", "n-code"),
    ("a--b", "a-b"),
    ("alice--3bc51062", "alice-3bc51062"),
    ("x" * 100, "x" * (MAX_SLUG_LENGTH - 10)),
])
def test_safe_names_are_kept_and_others_get_a_stem_and_a_stable_hash(name, stem):
    """Stable: the slug must be the same after a hub restart, or reconcile loses the user."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    assert user_slug(name) == (name if stem is None else f"{stem}--{digest}")


@pytest.mark.parametrize("name", ["alice", "Alice", "x" * 200, "9" * 70, "a_b", "-a-", "é" * 30,
                                  "kozo-nb-alice", "alice--3bc51062"])
def test_every_slug_is_a_short_dns_1035_label(name):
    slug = user_slug(name)
    assert DNS_1035_LABEL.match(slug) and len(slug) <= MAX_SLUG_LENGTH


def test_names_that_differ_only_in_case_or_punctuation_get_different_slugs():
    names = ["alice", "Alice", "ALICE", "alice.", "alice_", "a.lice", "alice--3bc51062"]
    assert len({user_slug(name) for name in names}) == len(names)


def test_an_empty_name_is_rejected():
    with pytest.raises(ValueError, match="must not be empty"):
        user_slug("")


@pytest.mark.parametrize("name, path", [
    ("alice", "/user/alice/"),
    ("a b/c", "/user/a%20b%2Fc/"),
])
def test_base_url_percent_encodes_the_name(name, path):
    assert user_base_url(name) == path
