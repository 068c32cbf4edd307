"""Optional C2PA manifests on exported media (`--c2pa-cert CERT.pem --c2pa-key KEY.pem`), via c2pa-python.

A signed manifest says, in the Content Credentials standard, that the file was created by an algorithm
trained on data: one `c2pa.created` action with the IPTC digital source type `trainedAlgorithmicMedia`,
PAV as the software agent, and PAV's provenance record (pav.provenance) as the assertion `pav.provenance`.
Signing is the last step of a write (after the pixel watermark and the PNG/mp4 tags, which it then covers);
`read_manifest` reports the manifest and its validation state: 'Invalid' (the file changed after signing, or
the signature is wrong), 'Valid' (intact, but the signer is not on a trust list) or 'Trusted' (the signer
chains to an anchor given with `verify --c2pa-trust`). Everything runs offline: no timestamp authority, no
OCSP, no remote manifests.
"""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {".png": "image/png", ".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
INSTALL = "C2PA manifests need c2pa-python: pip install c2pa-python"


@dataclass(frozen=True)
class C2paSigning:
    """A signing identity, checked by `load_signing`."""

    cert_pem: bytes
    """the signer's certificate chain, PEM: its own certificate first, then the CAs that issued it"""
    key_pem: bytes
    """the certificate's private key, PEM"""
    alg: str
    """COSE algorithm for the key: es256/es384/es512 (EC), ps256 (RSA) or ed25519"""


class C2paReading(NamedTuple):
    state: str
    """'Valid', 'Invalid' or 'Trusted' (c2pa's validation state)"""
    digital_source_type: str | None
    """the IPTC source type of the `c2pa.created` action, or None"""
    signer: str
    """the signing certificate's common name and issuer"""
    failures: list[str]
    """c2pa's failure codes (e.g. 'assertion.dataHash.mismatch', 'signingCredential.untrusted')"""
    record: dict | None
    """the `pav.provenance` assertion, or None"""


def add_signing_arguments(p) -> None:
    """`--c2pa-cert`/`--c2pa-key` on a command that writes media; `load_signing(args.c2pa_cert, args.c2pa_key)`."""
    p.add_argument("--c2pa-cert", type=Path, metavar="PEM",
                   help="also sign a C2PA manifest (source type trainedAlgorithmicMedia) with this certificate "
                        "chain (needs --c2pa-key; docs/provenance.md)")
    p.add_argument("--c2pa-key", type=Path, metavar="PEM", help="the private key of --c2pa-cert")


def _c2pa():
    try:
        import c2pa
    except ImportError:
        raise ValueError(INSTALL) from None
    return c2pa


def _alg(key_pem: bytes, where: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--c2pa-key {where}: not an unencrypted PEM private key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in ("secp256r1", "secp384r1", "secp521r1"):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ValueError(f"--c2pa-key {where}: C2PA signs with EC P-256/P-384/P-521, RSA or Ed25519 keys")


def load_signing(cert: Path | None, key: Path | None) -> C2paSigning | None:
    """`--c2pa-cert`/`--c2pa-key` → a checked signing identity (None when neither is given). A test signature
    on a tiny PNG runs here, so a bad certificate fails before any rendering, in one line."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--c2pa-cert and --c2pa-key go together: give the signing certificate and its key")
    c2pa = _c2pa()
    for flag, path in (("--c2pa-cert", cert), ("--c2pa-key", key)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{flag} not found: {path}")
    cert_pem, key_pem = Path(cert).read_bytes(), Path(key).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise ValueError(f"--c2pa-cert {cert}: not a PEM certificate chain")
    signing = C2paSigning(cert_pem, key_pem, _alg(key_pem, str(key)))
    from PIL import Image

    probe = io.BytesIO()
    Image.new("RGB", (8, 8)).save(probe, format="PNG")
    try:
        _sign_stream(c2pa, signing, {"synthetic": True}, "image/png", io.BytesIO(probe.getvalue()), io.BytesIO())
    except c2pa.C2paError as exc:
        raise ValueError(f"--c2pa-cert {cert} / --c2pa-key {key}: C2PA refuses them: {exc} (give an end-entity "
                         "certificate issued by a CA, followed by the CA, and its own private key)") from None
    return signing


def manifest(record: dict) -> dict:
    """The manifest definition: a `c2pa.created` action of source type trainedAlgorithmicMedia and PAV's record."""
    generator = record.get("generator", "PAV")
    name, _, version = generator.partition(" ")
    return {"claim_generator_info": [{"name": name, "version": version or "unknown"}],
            "title": "Synthetic media rendered by PAV",
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE,
                 "softwareAgent": {"name": name, "version": version or "unknown"}}]}},
                {"label": "pav.provenance", "data": record}]}


def _sign_stream(c2pa, signing: C2paSigning, record: dict, mime: str, source, dest) -> None:
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(signing.alg, signing.cert_pem, signing.key_pem, None))
    context = c2pa.Context(c2pa.Settings.from_dict(OFFLINE))
    with c2pa.Builder(manifest(record), context=context) as builder:
        builder.sign(signer, mime, source, dest)


def sign_in_place(path: Path, signing: C2paSigning, record: dict) -> None:
    """Embed a signed manifest into the PNG/JPEG/mp4 at `path` (its media type from the suffix), atomically."""
    c2pa = _c2pa()
    path = Path(path)
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"C2PA: cannot sign {path.name}: only {', '.join(MIME)} files")
    fd, signed = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".c2pa", dir=path.parent)
    os.close(fd)
    try:
        with open(path, "rb") as source, open(signed, "w+b") as dest:
            _sign_stream(c2pa, signing, record, mime, source, dest)
        os.chmod(signed, os.stat(path).st_mode & 0o777)
        os.replace(signed, path)
    except c2pa.C2paError as exc:
        raise ValueError(f"C2PA signing of {path.name} failed: {exc}") from None
    finally:
        Path(signed).unlink(missing_ok=True)


def read_manifest(path: Path, trust_pem: bytes | None = None) -> C2paReading | None:
    """The file's active C2PA manifest and its validation state; None when it has none. `trust_pem`: CA
    certificates (PEM) to trust, which turns the state of a manifest they signed from 'Valid' into 'Trusted'."""
    c2pa = _c2pa()
    settings = dict(OFFLINE)
    if trust_pem is not None:
        settings = {"verify": OFFLINE["verify"] | {"verify_trust": True},
                    "trust": {"user_anchors": trust_pem.decode("ascii", "replace")}}
    try:
        context = c2pa.Context(c2pa.Settings.from_dict(settings))
        with open(path, "rb") as stream:
            reader = c2pa.Reader.try_create(MIME.get(Path(path).suffix.lower()), stream, context=context)
            if reader is None:
                return None
            with reader:
                active = reader.get_active_manifest() or {}
                results = (reader.get_validation_results() or {}).get("activeManifest", {})
                state = reader.get_validation_state() or "unknown"
    except c2pa.C2paError as exc:
        raise ValueError(f"C2PA: cannot read {path}: {exc}") from None
    assertions = {a.get("label"): a.get("data") for a in active.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions", [])
    source = next((a.get("digitalSourceType") for a in actions if a.get("action") == "c2pa.created"), None)
    info = active.get("signature_info", {})
    return C2paReading(state, source, f"{info.get('common_name', '?')} (issuer {info.get('issuer', '?')})",
                       [f["code"] for f in results.get("failure", [])], assertions.get("pav.provenance"))
