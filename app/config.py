"""Configuration classes. Every deployment knob is an environment variable."""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("LOCKER_INSTANCE_DIR", PROJECT_ROOT / "instance"))
TRANSLATIONS_DIR = PROJECT_ROOT / "translations"


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _instance_secret(instance_dir, name, make):
    """The secret kept in instance/<name>, written from make() the first time."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _secret_key(instance_dir):
    """Return SECRET_KEY from the environment, or one generated once into instance/.

    A key generated per process would log every user out whenever gunicorn
    restarts a worker, so a missing key is created once and kept on disk.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    return _instance_secret(instance_dir, "secret_key", lambda: secrets.token_urlsafe(48))


def _login_secrets(config, instance_dir):
    """The password salt and the two-factor keys: secrets of their own, not SECRET_KEY's.

    Every stored password hash depends on the salt, and every enrolled
    authenticator on the two-factor keys, so neither may change when SECRET_KEY
    does (which only signs cookies; rotating it just signs everyone out). They
    come from PASSWORD_SALT / TOTP_SECRETS in the environment (several hosts) or
    from files in instance/. Installs from before these had their own
    secrets derived them from SECRET_KEY; the first start after the upgrade writes
    exactly those derived values to the files, so every password and
    authenticator keeps working, and from then on SECRET_KEY may change freely.
    """
    secret = config["SECRET_KEY"]
    if "SECURITY_PASSWORD_SALT" not in config:
        config["SECURITY_PASSWORD_SALT"] = os.environ.get("PASSWORD_SALT") or _instance_secret(
            instance_dir, "password_salt", lambda: f"password-{secret[:24]}")
    if "SECURITY_TOTP_SECRETS" not in config:
        raw = os.environ.get("TOTP_SECRETS") or _instance_secret(
            instance_dir, "totp_secrets.json", lambda: json.dumps({"1": f"totp-{secret[-24:]}"}))
        config["SECURITY_TOTP_SECRETS"] = json.loads(raw)


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = None  # filled in by create_app() so that importing never writes files
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'locker_desk.sqlite'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    UPLOAD_DIR = Path(os.environ.get("UPLOAD_DIR", INSTANCE_DIR / "uploads"))
    # Backup archives; keep them off the database's own disk where the install allows.
    BACKUP_DIR = Path(os.environ.get("BACKUP_DIR", INSTANCE_DIR / "backups"))
    # Files written by workers for "My exports"; shared by every web and worker host.
    EXPORT_DIR = Path(os.environ.get("EXPORT_DIR", INSTANCE_DIR / "exports"))
    # Encrypts new backup archives: base64 of 32 random bytes (`openssl rand -base64 32`);
    # older keys may follow, comma-separated, to open archives made with them. Empty: plain.
    BACKUP_ENCRYPTION_KEY = os.environ.get("BACKUP_ENCRYPTION_KEY", "")
    # The status page and /healthz warn when a disk the app writes to has less free than this.
    DISK_FREE_MIN_BYTES = int(os.environ.get("DISK_FREE_MIN_BYTES", 1024**3))
    DISK_FREE_MIN_PERCENT = float(os.environ.get("DISK_FREE_MIN_PERCENT", 10))
    UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_MB", "8")) * 1024 * 1024
    # Requests larger than this are refused before they are read (a 50 MB "photo").
    MAX_CONTENT_LENGTH = UPLOAD_MAX_BYTES * 2

    # --- Language and time -------------------------------------------------------
    LANGUAGES = ("bn", "en")
    BABEL_DEFAULT_LOCALE = "bn"
    BABEL_DEFAULT_TIMEZONE = "Asia/Dhaka"
    BABEL_TRANSLATION_DIRECTORIES = str(TRANSLATIONS_DIR)

    # --- Sessions -----------------------------------------------------------------
    # Idle timeout: a desk PC is shared, so an unattended session must end.
    IDLE_TIMEOUT_MINUTES = int(os.environ.get("IDLE_TIMEOUT_MINUTES", "30"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_DURATION = timedelta(minutes=1)

    # --- Flask-Security -------------------------------------------------------------
    SECURITY_PASSWORD_HASH = "argon2"
    SECURITY_PASSWORD_LENGTH_MIN = 10
    SECURITY_PASSWORD_COMPLEXITY_CHECKER = "zxcvbn"
    SECURITY_PASSWORD_CHECK_BREACHED = False  # needs the internet, which a gym may not have
    SECURITY_TRACKABLE = True
    SECURITY_CHANGEABLE = True
    SECURITY_RECOVERABLE = False  # staff passwords are reset by a Super Admin
    SECURITY_REGISTERABLE = False  # staff accounts are created by a Super Admin
    SECURITY_SEND_REGISTER_EMAIL = False
    SECURITY_SEND_PASSWORD_CHANGE_EMAIL = False
    SECURITY_DEFAULT_REMEMBER_ME = False
    SECURITY_POST_LOGIN_VIEW = "/admin/"
    SECURITY_POST_LOGOUT_VIEW = "/login"
    SECURITY_POST_CHANGE_VIEW = "/admin/"
    SECURITY_URL_PREFIX = None
    SECURITY_I18N_DIRNAME = [str(TRANSLATIONS_DIR), "builtin"]
    SECURITY_TWO_FACTOR = True
    # A code by SMS (SSL Wireless, app.integrations.sms) for staff without an authenticator app.
    SECURITY_TWO_FACTOR_ENABLED_METHODS = ["authenticator", "sms"]
    SECURITY_SMS_SERVICE = "SSLWireless"
    SECURITY_SMS_SERVICE_CONFIG = {"PHONE_NUMBER": "Locker desk"}
    SECURITY_PHONE_REGION_DEFAULT = "BD"
    SECURITY_TWO_FACTOR_RESCUE_MAIL = None
    SECURITY_TOTP_ISSUER = "Locker desk"
    SECURITY_MULTI_FACTOR_RECOVERY_CODES = False
    SECURITY_USE_VERIFY_PASSWORD_CACHE = False
    # No DNS lookups for staff emails: the desk may be offline.
    SECURITY_EMAIL_VALIDATOR_ARGS = {"check_deliverability": False}
    SECURITY_RETURN_GENERIC_RESPONSES = True  # do not reveal which emails are staff
    # Lockout: 5 wrong passwords lock the account for 15 minutes.
    LOCKOUT_ATTEMPTS = int(os.environ.get("LOCKOUT_ATTEMPTS", "5"))
    LOCKOUT_MINUTES = int(os.environ.get("LOCKOUT_MINUTES", "15"))
    # Failed sign-ins counted across accounts from one address, and across addresses
    # for one account (app.services.throttle); the lockout above is per both.
    LOGIN_LIMIT_PER_ADDRESS = os.environ.get("LOGIN_LIMIT_PER_ADDRESS", "20 per 15 minutes")
    LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "50 per hour")
    # Every page someone not signed in can reach, per address (Flask-Limiter).
    PUBLIC_RATE_LIMIT = os.environ.get("PUBLIC_RATE_LIMIT", "120 per minute")
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    RATELIMIT_KEY_PREFIX = "locker-desk"
    # Reverse proxies in front of the desk (nginx = 1). Only that many hops of
    # X-Forwarded-For are believed; with none, the header is ignored.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    # A Super Admin must set up an authenticator app before doing anything else.
    REQUIRE_2FA_FOR_SUPER_ADMIN = _env_bool("REQUIRE_2FA_FOR_SUPER_ADMIN", False)

    # --- Messages to clients (app.integrations) -------------------------------------
    # Each channel is off until it has credentials, here or in the settings screen
    # (which wins). Names as Flask-Mail spells them, so existing setups carry over.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "locker-desk@localhost")
    # SSL Wireless ISMS Plus, e.g. https://smsplus.sslwireless.com/api/v3
    SMS_API_URL = os.environ.get("SMS_API_URL", "")
    SMS_API_TOKEN = os.environ.get("SMS_API_TOKEN", "")
    SMS_SID = os.environ.get("SMS_SID", "")
    # WhatsApp Business Cloud API.
    WHATSAPP_API_URL = os.environ.get("WHATSAPP_API_URL", "https://graph.facebook.com")
    WHATSAPP_API_VERSION = os.environ.get("WHATSAPP_API_VERSION", "v21.0")
    WHATSAPP_PHONE_NUMBER_ID = os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "")
    WHATSAPP_TOKEN = os.environ.get("WHATSAPP_TOKEN", "")
    WHATSAPP_APP_SECRET = os.environ.get("WHATSAPP_APP_SECRET", "")
    WHATSAPP_VERIFY_TOKEN = os.environ.get("WHATSAPP_VERIFY_TOKEN", "")
    # Keys that encrypt the secrets kept in the settings (comma-separated, newest first);
    # unset: one generated once into instance/settings_keys.
    SETTINGS_KEYS = os.environ.get("SETTINGS_KEYS", "")
    # Where clients reach this desk from outside (links in messages, e.g. a receipt).
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000")
    # Seconds a provider may take to answer before the attempt counts as failed.
    PROVIDER_TIMEOUT = float(os.environ.get("PROVIDER_TIMEOUT", "15"))
    # Seconds a payment gateway may take (bKash asks for at most 30); then we ask again.
    GATEWAY_TIMEOUT = float(os.environ.get("GATEWAY_TIMEOUT", "29"))

    # --- Flask-Admin --------------------------------------------------------------
    FLASK_ADMIN_SWATCH = "flatly"
    WTF_CSRF_TIME_LIMIT = None  # the idle timeout already bounds a form's life

    # --- RQ -----------------------------------------------------------------------
    RQ_QUEUES = ("default", "notifications", "maintenance")
    # A worker that has not sent a heartbeat for this long counts as gone.
    WORKER_HEARTBEAT_MAX_AGE = int(os.environ.get("WORKER_HEARTBEAT_MAX_AGE", "120"))


class DevelopmentConfig(Config):
    """`make run` on a laptop or the desk PC: the demo."""


class ProductionConfig(Config):
    """A real install: secure cookies and two-factor for Super Admins."""

    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REQUIRE_2FA_FOR_SUPER_ADMIN = _env_bool("REQUIRE_2FA_FOR_SUPER_ADMIN", True)


class TestingConfig(Config):
    """Tests: a real database URL is supplied by the fixture; hashing made cheap."""

    TESTING = True
    WTF_CSRF_ENABLED = False
    # Still argon2, so tests exercise the real scheme, but with tiny cost settings.
    SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS = {
        "argon2__rounds": 1,
        "argon2__memory_cost": 256,
        "argon2__parallelism": 1,
    }
    SERVER_NAME = None


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def load_config(app, config):
    """Apply the chosen config class (or mapping) to `app` and fill the secrets."""
    if config is None:
        config = CONFIGS[os.environ.get("LOCKER_ENV", "development")]
    if isinstance(config, dict):
        app.config.from_object(CONFIGS[config.get("LOCKER_ENV", "testing")])
        app.config.update(config)
    else:
        app.config.from_object(config)
    instance_dir = Path(app.config.get("INSTANCE_DIR") or app.instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance_dir)
    _login_secrets(app.config, instance_dir)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        minutes=app.config["IDLE_TIMEOUT_MINUTES"]
    )
