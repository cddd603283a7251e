"""Which logged models may be loaded: the ones this installation signed, unchanged since.

An MLflow pyfunc model is a cloudpickle: loading it runs whatever code it holds, so whoever can
write to a tracking server could run code on every machine that loads its models. When
modeldev logs a model it digests the model's files (every relative path and its SHA-256) and
signs the digest and the model's id with this installation's key (HMAC-SHA256; a file of 32
random bytes, mode 0600, `MODELDEV_MODEL_KEY_FILE`, by default in the workspace); the
signature goes on the model's run as tag `modeldev.model_signature.<model id>`. Before a model
is loaded, its files are fetched, digested and checked against that tag: a model without one,
changed since, or signed with another key (another installation) is refused, unless
`MODELDEV_TRUST_TRACKING_SERVER=1` says to trust the server anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import uuid
from pathlib import Path

from modeldev.errors import TrackingError

SIGNATURE_PREFIX = "modeldev.model_signature."
_VERSION = "v1"
_KEY_BYTES = 32
_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_IN_URI = re.compile(r"(?:^models:/|/models/)(m-[0-9a-f]{32})(?:/|$)")
# MLflow writes this file into a registered version's own folder when it hands the version out
# from a local store (`mlflow models serve -m models:/NAME@champion` does): two YAML keys, the
# registered name and version, never loaded as code. The digest leaves it out, so serving the
# champion does not unsign it.
REGISTRY_NOTE = "registered_model_meta"


def model_id_of(model_uri: str) -> str | None:
    """The LoggedModel id a model URI names (`models:/m-...` or its artifact location)."""
    found = _IN_URI.search(model_uri)
    return found.group(1) if found else None


def checked_model_id(model_id: str) -> str:
    """`model_id` when it has the form of an MLflow LoggedModel id, else a TrackingError."""
    if not isinstance(model_id, str) or not _MODEL_ID.fullmatch(model_id):
        raise TrackingError(f"{model_id!r} is not an MLflow model id.")
    return model_id


def signature_tag(model_id: str) -> str:
    """The run tag holding a model's signature."""
    return SIGNATURE_PREFIX + checked_model_id(model_id)


def model_key(path: Path) -> bytes:
    """This installation's signing key, created (mode 0600) the first time it is needed; two
    processes creating it at once end up with the same key."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(_KEY_BYTES).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # creates the key only if no other process did in the meantime
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 2 * _KEY_BYTES:
        raise TrackingError(f"The model signing key {path} is damaged (too short); remove it "
                            "to make a new one (models signed with it will need signing again).")
    return bytes.fromhex(text)


def folder_digest(folder: Path) -> str | None:
    """SHA-256 over every file's relative path and content (MLflow's top-level registry note
    left out); None where the folder holds a symlink or anything but regular files and folders
    (a model never does)."""
    root = Path(folder)
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return None
            if stat.S_ISREG(mode) and not (name == REGISTRY_NOTE and Path(dirpath) == root):
                entries.append((path.relative_to(root).as_posix(), _file_sha256(path)))
    total = hashlib.sha256()
    for rel, digest in sorted(entries):
        total.update(rel.encode() + b"\0" + digest + b"\n")
    return total.hexdigest()


def _file_sha256(path: Path) -> bytes:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").digest()


def signature(key: bytes, model_id: str, digest: str) -> str:
    """The signature of a model's files: HMAC-SHA256 of its id and digest under `key`."""
    mac = hmac.new(key, f"{model_id}\n{digest}".encode(), hashlib.sha256).hexdigest()
    return f"{_VERSION}:{mac}"


def problem(tags: dict[str, str], model_id: str, folder: Path, key: bytes) -> str | None:
    """Why the model whose files are in `folder` is not to be trusted (its run's `tags` hold
    its signature), or None: signed by this installation and unchanged since."""
    recorded = tags.get(signature_tag(model_id))
    if not recorded:
        return "it carries no signature of this installation"
    digest = folder_digest(folder)
    if digest is None or not hmac.compare_digest(recorded, signature(key, model_id, digest)):
        return "its signature does not match its files: another installation logged it, or " \
               "it has changed since"
    return None
