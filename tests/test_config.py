"""Settings: .env < environment < flags; secrets never shown."""

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, describe

ROOT = Path(__file__).resolve().parents[1]


def test_precedence_dotenv_then_env_then_flags(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("BOT_TOP_K=3\nBOT_COLLECTION=fromfile\nBOT_CHAT_MODEL=file-model\n")
    s = Settings.load(env={"BOT_COLLECTION": "fromenv", "BOT_CHAT_MODEL": "env-model"},
                      env_file=env_file, overrides={"chat_model": "flag-model"})
    assert s.top_k == 3
    assert s.collection == "fromenv"
    assert s.chat_model == "flag-model"


def test_defaults_without_anything(tmp_path):
    s = Settings.load(env={}, env_file=None)
    # No .bot/ above tmp_path: the per-user store (XDG_DATA_HOME is tmp_path/xdg in tests).
    assert s.store_dir == tmp_path / "xdg" / "bot"
    assert s.embeddings == "local" and not s.llm_enabled


def test_llm_enabled_by_key_or_base_url():
    assert Settings.load(env={"OPENAI_API_KEY": "sk-x"}, env_file=None).llm_enabled
    assert Settings.load(env={"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, env_file=None).llm_enabled


def test_bad_number_is_a_clear_error():
    with pytest.raises(ConfigError, match="BOT_TOP_K=.many. is not a whole number"):
        Settings.load(env={"BOT_TOP_K": "many"}, env_file=None)


def test_masked_hides_secrets():
    shown = Settings.load(env={"OPENAI_API_KEY": "sk-secret-123"}, env_file=None).masked()
    assert "sk-secret-123" not in str(shown)
    assert shown["OPENAI_API_KEY"] == "(set, hidden)"


def test_env_example_lists_every_setting():
    example = (ROOT / ".env.example").read_text()
    for env, _, _ in describe():
        assert f"# {env}=" in example, f"{env} missing from .env.example"


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n\n#", 1)[0]
    for env, _default, _help in describe():
        assert f"`{env}`" in table, f"{env} missing from the README's configuration table"
