import pytest
from promptkit.registry.refs import Reference, parse_reference, validate_alias, validate_name, validate_tag

from promptkit.errors import InvalidNameError, InvalidReferenceError, UsageError


class TestParseReference:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("dtd", Reference("dtd", alias="latest")),
            ("dtd:3", Reference("dtd", version=3)),
            ("dtd@prod", Reference("dtd", alias="prod")),
            ("dtd@sha256:ABCDEF12", Reference("dtd", digest="abcdef12")),
            ("org/dtd", Reference("org/dtd", alias="latest")),
            ("org/dtd:12", Reference("org/dtd", version=12)),
            ("org/dtd@latest", Reference("org/dtd", alias="latest")),
            ("org/dtd@sha256:" + "a" * 64, Reference("org/dtd", digest="a" * 64)),
        ],
    )
    def test_accepted_forms(self, text, expected):
        assert parse_reference(text) == expected

    def test_str_round_trip(self):
        for text in ("dtd:3", "org/dtd@prod", "dtd@sha256:abcdef"):
            assert str(parse_reference(text)) == text

    @pytest.mark.parametrize(
        "text",
        ["", " ", "dtd:0", "dtd:-1", "dtd:x", "dtd@", "dtd@sha256:xyz123", "dtd@sha256:abc", "a/b/c", "dtd:1@prod",
         "dtd@a@b", "../x", "dtd@sha256", "dtd\n"],
    )
    def test_rejects_with_accepted_forms(self, text):
        with pytest.raises(InvalidReferenceError) as info:
            parse_reference(text)
        assert "name:3" in info.value.hint and "sha256" in info.value.hint

    def test_is_a_usage_error(self):
        with pytest.raises(UsageError):
            parse_reference("a:b:c")


class TestValidateName:
    @pytest.mark.parametrize("name", ["dtd", "org/dtd", "a", "x" * 96, "v1.2_rc-3", "zoo/textures"])
    def test_valid(self, name):
        assert validate_name(name) == name

    @pytest.mark.parametrize(
        ("name", "why"),
        [
            ("", "empty"),
            ("a/b/c", "namespace"),
            ("../etc", ".."),
            ("a..b", ".."),
            ("/abs", "start"),
            ("a/", "start"),
            ("bad\x00name", "control"),
            ("tab\tname", "control"),
            ("x" * 97, "97 characters"),
            ("a\\b", "backslash"),
            (".hidden", "start"),
            ("sp ace", "hold only"),
        ],
    )
    def test_invalid(self, name, why):
        with pytest.raises(InvalidNameError) as info:
            validate_name(name)
        assert why in str(info.value)


class TestAliasesAndTags:
    def test_alias_rules(self):
        assert validate_alias("prod") == "prod"
        for bad in ("", "1abc", "sha256", "a b", "x" * 65):
            with pytest.raises(UsageError):
                validate_alias(bad)

    def test_tag_rules(self):
        assert validate_tag("task", "dtd") == ("task", "dtd")
        with pytest.raises(UsageError):
            validate_tag("bad key", "v")
        with pytest.raises(UsageError):
            validate_tag("k", "x" * 300)
