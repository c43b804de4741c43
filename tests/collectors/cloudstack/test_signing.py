"""Signatures exactly as the management server computes and checks them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cs import CloudStack
from hypothesis import given
from hypothesis import strategies as st

from collectors.cloudstack.signing import canonical_query, java_url_encode, sign, signature_problem

# The API guide's keys (Programmer Guide, "How to sign an API call with Python",
# docs.huihoo.com/apache/cloudstack/4.8/_sources/dev.txt): public example values, not secrets.
GUIDE_API_KEY = "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg"
GUIDE_SECRET = "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def cs_signature(params: dict[str, str], secret: str) -> str:
    """What the cs library signs for these parameters."""
    data = dict(params)
    CloudStack("http://127.0.0.1/client/api", key="k", secret=secret)._sign(data)
    return data["signature"]


class TestVectors:
    def test_guide_list_users_example(self) -> None:
        """S01: The guide's listUsers request signs to TTpdDq/7j/J58XCRHomKoQXEQds=."""
        params = {"command": "listUsers", "response": "json", "apiKey": GUIDE_API_KEY}
        assert sign(params, GUIDE_SECRET) == "TTpdDq/7j/J58XCRHomKoQXEQds="

    def test_canonical_string_is_sorted_and_lower_cased(self) -> None:
        """Parameters are sorted by name, values encoded, the whole string lower-cased."""
        params = {"response": "json", "command": "listUsers", "apiKey": "AbC"}
        assert canonical_query(params) == "apikey=abc&command=listusers&response=json"

    def test_spaces_are_percent_20_and_star_is_kept(self) -> None:
        """S01: A space becomes %20 (never +) and * stays literal, as Java's URLEncoder plus the server's fix-up."""
        assert java_url_encode("my vm*1") == "my%20vm*1"
        assert canonical_query({"name": "My VM*"}) == "name=my%20vm*"

    def test_tilde_and_slash_are_encoded_like_java(self) -> None:
        """Java encodes ~ and / (Python's quote would keep ~)."""
        assert java_url_encode("a~b/c+d") == "a%7Eb%2Fc%2Bd"

    def test_cs_library_agrees_for_spaces_and_star(self) -> None:
        """The cs library's signature matches the server's for values with spaces and *."""
        params = {"command": "listVirtualMachines", "keyword": "web server *", "apiKey": GUIDE_API_KEY}
        assert cs_signature(params, GUIDE_SECRET) == sign(params, GUIDE_SECRET)


class TestVerification:
    def signed(self, **extra: str) -> dict[str, str]:
        params = {"command": "listZones", "response": "json", "apiKey": GUIDE_API_KEY, **extra}
        params["signature"] = sign(params, GUIDE_SECRET)
        return params

    def test_good_signature_passes(self) -> None:
        """A correctly signed request has no problem."""
        assert signature_problem(self.signed(), {GUIDE_API_KEY: GUIDE_SECRET}, NOW) is None

    def test_wrong_secret_fails(self) -> None:
        """A request signed with another secret is refused."""
        params = self.signed()
        params["signature"] = sign(params, "another-secret")
        assert signature_problem(params, {GUIDE_API_KEY: GUIDE_SECRET}, NOW) == "signature mismatch"

    def test_tampered_parameter_fails(self) -> None:
        """Changing a parameter after signing breaks the signature."""
        params = self.signed(page="1")
        params["page"] = "2"
        assert signature_problem(params, {GUIDE_API_KEY: GUIDE_SECRET}, NOW) == "signature mismatch"

    def test_version_3_needs_expires(self) -> None:
        """signatureVersion=3 without expires is refused."""
        params = self.signed(signatureVersion="3")
        assert signature_problem(params, {GUIDE_API_KEY: GUIDE_SECRET}, NOW) == "missing or malformed expires"

    def test_version_3_expired_fails(self) -> None:
        """signatureVersion=3 with an expiry in the past is refused."""
        past = (NOW - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
        params = self.signed(signatureVersion="3", expires=past)
        assert signature_problem(params, {GUIDE_API_KEY: GUIDE_SECRET}, NOW) == "request expired"

    def test_version_3_in_time_passes(self) -> None:
        """signatureVersion=3 with a future expiry passes."""
        future = (NOW + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S%z")
        params = self.signed(signatureVersion="3", expires=future)
        assert signature_problem(params, {GUIDE_API_KEY: GUIDE_SECRET}, NOW) is None

    def test_unknown_key_fails(self) -> None:
        """An API key the server does not know is refused."""
        assert signature_problem(self.signed(), {"other": GUIDE_SECRET}, NOW) == "unknown apiKey"


# "signature" names the signature itself: it is never one of the signed parameters (a request
# carrying one is not a request to sign), so the property is about every other name.
NAMES = st.text(alphabet=st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1, max_size=12).filter(
    lambda name: name != "signature")
VALUES = st.text(st.characters(blacklist_characters="~", blacklist_categories=("Cs", "Cc")), max_size=30)


class TestAgainstCs:
    @given(st.dictionaries(NAMES, VALUES, min_size=1, max_size=6))
    def test_cs_signs_what_the_server_verifies(self, params: dict[str, str]) -> None:
        """S01: For any parameters without '~', cs's signature is the one the server computes."""
        assert cs_signature(params, GUIDE_SECRET) == sign(params, GUIDE_SECRET)

    def test_cs_differs_on_tilde(self) -> None:
        """cs keeps '~' unencoded while Java encodes it: such values would be refused (the collector sends none)."""
        params = {"keyword": "a~b"}
        assert cs_signature(params, GUIDE_SECRET) != sign(params, GUIDE_SECRET)
