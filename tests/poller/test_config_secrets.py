"""S05: secrets in the configuration: ``${ENV}`` and ``*_file`` references, the permission
warning (or refusal) for secret-bearing files that group or others may read, and the masked
document ``poller config show`` prints. Real files with real modes."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
import yaml

from poller.config import load_config, masked_document
from poller.errors import ConfigError

CANARY = "Canary-S05-Secret-6e1f"


def write(path: Path, doc: dict, mode: int = 0o600) -> Path:
    path.write_text(yaml.safe_dump(doc))
    path.chmod(mode)
    return path


def secret(path: Path, text: str = CANARY + "\n", mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def cs_source(**options: str) -> dict:
    return {"name": "cs", "collector": "cloudstack", "options": {"endpoint": "http://127.0.0.1:1/client/api", **options}}


def test_S05_file_references_resolve_with_one_trailing_newline_stripped(tmp_path: Path) -> None:
    """S05: ``<secret>_file`` in source options (nested too), sinks, events and the field policy gives the
    file's content as the value, one trailing newline stripped; a relative path is read next to the config."""
    secret(tmp_path / "cs", "cs-secret\r\n")
    secret(tmp_path / "pw", "pass word \n\n")
    secret(tmp_path / "tok", "token-x")
    doc = {
        "notify": {"sinks": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/", "secret_file": "tok"}]},
        "sources": [
            cs_source(api_key="${CS_KEY:-k}", secret_key_file=str(tmp_path / "cs")),
            {"name": "os", "collector": "openstack",
             "options": {"auth": {"auth_url": "http://127.0.0.1:1/v3", "username": "u", "password_file": "pw"}},
             "fields": {"redact": {"*": ["/x"]}, "redaction_key_file": "tok"}},
        ],
        "events": {"sources": {"os": {"token_file": "${SECRETS_DIR}/tok"}}},
    }
    config = load_config(str(write(tmp_path / "p.yaml", doc)), environ={"SECRETS_DIR": str(tmp_path)})
    assert config.source("cs").options["secret_key"] == "cs-secret"
    assert "secret_key_file" not in config.source("cs").options
    assert config.source("os").options["auth"]["password"] == "pass word \n"
    assert config.source("os").fields.redaction_key == "token-x"
    assert config.notify.sinks[0].options["secret"] == "token-x"
    assert config.events["sources"]["os"]["token"] == "token-x"
    assert config.inline_secrets == () and set(config.secret_files) == {str(tmp_path / n) for n in ("cs", "pw", "tok")}


def test_S05_env_reference_resolves_and_is_not_an_inline_secret(tmp_path: Path) -> None:
    """S05: ``${ENV}`` secrets resolve; a file holding only references is no secret-bearing file, so a 0644
    mode is not warned about, while a literal value in it is."""
    doc = {"sources": [cs_source(api_key="${CS_KEY}", secret_key="${CS_SECRET}")],
           "notify": {"sinks": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/",
                                 "headers": {"Authorization": "Bearer ${CS_SECRET}"}}]},
           "baseline": {"url": "postgresql+psycopg://poller:${PGPASSWORD}@127.0.0.1/db"}}
    path = write(tmp_path / "p.yaml", doc, 0o644)
    with structlog.testing.capture_logs() as logs:
        config = load_config(str(path), environ={"CS_KEY": "k", "CS_SECRET": CANARY, "PGPASSWORD": "pg"})
    assert config.source("cs").options["secret_key"] == CANARY and config.baseline.url.endswith("poller:pg@127.0.0.1/db")
    assert config.inline_secrets == () and not logs
    doc["sources"][0]["options"]["secret_key"] = "literal-secret"
    with structlog.testing.capture_logs() as logs:
        config = load_config(str(write(path, doc, 0o644)), environ={"CS_KEY": "k", "PGPASSWORD": "pg"})
    assert config.inline_secrets == ("sources.cs.options.secret_key",)
    assert [entry["event"] for entry in logs] == ["secrets_readable"]
    assert "0644" in logs[0]["text"] and str(path) in logs[0]["text"] and "literal-secret" not in str(logs)


def test_S05_both_value_and_file_is_an_error(tmp_path: Path) -> None:
    """S05: setting ``secret`` and ``secret_file`` on one sink is one error naming the key."""
    secret(tmp_path / "s")
    doc = {"notify": {"sinks": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/",
                                 "secret": "x", "secret_file": str(tmp_path / "s")}]}}
    config = load_config(str(write(tmp_path / "p.yaml", doc)))
    assert config.notify.sinks[0].options_error is not None
    assert "notify.sinks.hook.secret_file: set secret or secret_file, not both" in config.notify.sinks[0].options_error


@pytest.mark.parametrize("content, problem", [(None, "cannot read"), ("", "is empty"), ("\n", "is empty"),
                                              (b"\xff\xfe", "is not UTF-8 text"), ("x" * 70000, "larger than")])
def test_S05_unusable_secret_file_names_field_and_file(tmp_path: Path, content: str | bytes | None, problem: str) -> None:
    """S05: a missing, empty, binary or oversized secret file is one problem naming the key and the file,
    raised when the source is built (like an unset ${ENV}); the content never appears in it."""
    path = tmp_path / "pw"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    doc = {"sources": [cs_source(api_key="k", secret_key_file=str(path))]}
    config = load_config(str(write(tmp_path / "p.yaml", doc)))
    error = config.source("cs").options_error
    assert error is not None and "sources.cs.options.secret_key_file" in error and str(path) in error and problem in error
    assert "xxxx" not in error


def test_S05_readable_secret_file_warns_and_refusal_is_configurable(tmp_path: Path) -> None:
    """S05: a referenced secret file that group or others may read is one warning naming it and its mode; with
    service.refuse_readable_secrets it is a ConfigError instead (check-config's ``problems`` gets it too)."""
    pw = secret(tmp_path / "pw", mode=0o640)
    doc = {"sources": [cs_source(api_key="${K:-k}", secret_key_file=str(pw))]}
    path = write(tmp_path / "p.yaml", doc, 0o644)
    with structlog.testing.capture_logs() as logs:
        load_config(str(path))
    assert len(logs) == 1 and f"{pw}: mode 0640" in logs[0]["text"] and logs[0]["log_level"] == "warning"
    assert CANARY not in str(logs)
    doc["service"] = {"refuse_readable_secrets": True}
    write(path, doc, 0o644)
    with pytest.raises(ConfigError, match=r"pw: mode 0640 lets group or others read it.*refuse_readable_secrets"):
        load_config(str(path))
    problems: list[str] = []
    load_config(str(path), problems=problems)
    assert len(problems) == 1 and "0640" in problems[0]
    pw.chmod(0o600)
    with structlog.testing.capture_logs() as logs:
        assert load_config(str(path)).source("cs").options["secret_key"] == CANARY
    assert not logs


def test_S05_world_readable_config_with_inline_secret_is_refused_when_configured(tmp_path: Path) -> None:
    """S05: an inline URL password in a 0604 config file is refused with refuse_readable_secrets; 0600 passes."""
    doc = {"baseline": {"url": f"postgresql+psycopg://u:{CANARY}@127.0.0.1/db"}, "service": {"refuse_readable_secrets": "yes"}}
    path = write(tmp_path / "p.yaml", doc, 0o604)
    with pytest.raises(ConfigError) as raised:
        load_config(str(path))
    assert "mode 0604" in str(raised.value) and "baseline.url" in str(raised.value) and CANARY not in str(raised.value)
    path.chmod(0o600)
    assert load_config(str(path)).inline_secrets == ("baseline.url",)


def test_S05_masked_document_hides_every_secret_value_and_keeps_keys(tmp_path: Path) -> None:
    """S05: the document `config show` prints has every secret value (inline, ${ENV}, file; URL passwords,
    headers, nested credentials) as ***, its key names kept, and other values as configured."""
    secret(tmp_path / "pw")
    doc = {
        "baseline": {"url": f"postgresql+psycopg://u:{CANARY}@127.0.0.1/db"},
        "notify": {"sinks": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/", "secret": "${S}",
                              "headers": {"Authorization": f"Bearer {CANARY}"}}]},
        "sources": [cs_source(api_key=CANARY, secret_key_file=str(tmp_path / "pw")),
                    {"name": "lv", "collector": "libvirt", "options": {"uri": "qemu:///system",
                                                                       "auth": {"username": "u", "password": CANARY}}}],
        "events": {"sources": {"cs": {"hmac_secret": CANARY}}},
    }
    document = masked_document(load_config(str(write(tmp_path / "p.yaml", doc)), environ={"S": CANARY}))
    text = yaml.safe_dump(document)
    assert CANARY not in text
    cs = document["sources"][0]["options"]
    assert cs == {"endpoint": "http://127.0.0.1:1/client/api", "api_key": "***", "secret_key": "***"}
    assert document["notify"]["sinks"][0]["options"]["secret"] == "***"
    assert document["baseline"]["url"] == "postgresql+psycopg://u:***@127.0.0.1/db"
    assert document["sources"][1]["options"]["auth"] == {"username": "u", "password": "***"}
    assert document["events"]["sources"]["cs"]["hmac_secret"] == "***"
