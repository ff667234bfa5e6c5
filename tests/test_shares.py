"""vault.shares: SLIP-39 M-of-N custody of the master secret."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vault
from vault.shares import InvalidShare, MismatchedShares, NotEnoughShares, describe_share, split_secret

SECRET = bytes(range(32))


@st.composite
def splits(draw):
    count = draw(st.integers(2, 6))
    threshold = draw(st.integers(2, count))
    secret = draw(st.binary(min_size=32, max_size=32))
    return secret, split_secret(secret, threshold, count)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=splits(), pick=st.randoms(use_true_random=False))
def test_any_quorum_gives_back_the_same_keys(data, pick):
    secret, split = data
    quorum = pick.sample(list(split.shares), split.threshold)
    recovered = vault.shares.combine_shares(quorum)
    assert recovered.master_secret == secret
    assert vault.derive_keys(recovered.master_secret).public_key == vault.derive_keys(secret).public_key
    assert sorted(recovered.numbers) == sorted(describe_share(s).number for s in quorum)


@settings(max_examples=25, deadline=None)
@given(data=splits(), pick=st.randoms(use_true_random=False))
def test_any_quorum_minus_one_is_refused(data, pick):
    _secret, split = data
    fewer = pick.sample(list(split.shares), split.threshold - 1)
    with pytest.raises(NotEnoughShares) as err:
        vault.shares.combine_shares(fewer)
    assert (err.value.have, err.value.need) == (split.threshold - 1, split.threshold)
    # Padding the short quorum with a repeat, or with a share of another split, never yields a secret.
    with pytest.raises(MismatchedShares):
        vault.shares.combine_shares([*fewer, fewer[0]])
    other = split_secret(SECRET, split.threshold, len(split.shares))
    with pytest.raises(MismatchedShares):  # another identifier, or (1 in 32768) SLIP-39's digest check
        vault.shares.combine_shares([*fewer, other.shares[-1]])


def test_every_quorum_of_five_three_agrees():
    split = split_secret(SECRET, 3, 5)
    for quorum in itertools.combinations(split.shares, 3):
        assert vault.shares.combine_shares(list(quorum)).master_secret == SECRET
    assert split.identifier == describe_share(split.shares[0]).identifier
    assert {describe_share(s).number for s in split.shares} == {1, 2, 3, 4, 5}


def test_a_mistyped_word_names_the_share_and_never_echoes_words():
    split = split_secret(SECRET, 2, 3)
    words = split.shares[1].split()
    swapped = words[:]
    swapped[10], swapped[11] = swapped[11], swapped[10]
    unknown = words[:]
    unknown[4] = "zzzz"
    # The whole message is fixed text, so it echoes none of the share's words. (Checking
    # the share's words against the message failed now and then: "check" and
    # "order", words of the message, are SLIP-39 words too.)
    for bad, expect in (
        (swapped, f"share #2 does not check out ({len(words)} words): a word is mistyped, missing or out of order"),
        (unknown, "share #2 has word 5 outside the SLIP-39 word list (mistyped?)"),
    ):
        with pytest.raises(InvalidShare) as err:
            vault.shares.combine_shares([split.shares[0], " ".join(bad)])
        assert err.value.position == 1
        assert str(err.value) == expect


def test_shares_from_another_ceremony_are_refused_by_identifier():
    one = split_secret(SECRET, 2, 3)
    two = split_secret(SECRET, 2, 3)
    if one.identifier == two.identifier:  # 1 in 32768: the digest check still refuses below
        pytest.skip("identifiers collided")
    with pytest.raises(MismatchedShares) as err:
        vault.shares.combine_shares([one.shares[0], two.shares[1]])
    assert err.value.position == 1 and "another ceremony" in str(err.value)


def test_case_and_spacing_do_not_matter():
    split = split_secret(SECRET, 2, 2)
    messy = ["  " + split.shares[0].upper().replace(" ", "\n  "), split.shares[1]]
    assert vault.shares.combine_shares(messy).master_secret == SECRET


@pytest.mark.parametrize(("threshold", "count"), [(1, 3), (4, 3), (2, 17)])
def test_bad_parameters_are_refused(threshold, count):
    with pytest.raises(ValueError):
        split_secret(SECRET, threshold, count)


def test_only_32_byte_secrets():
    with pytest.raises(ValueError):
        split_secret(b"short", 2, 3)
    with pytest.raises(TypeError):
        split_secret("x" * 32, 2, 3)  # type: ignore[arg-type]
