"""C2PA manifests (issue 16 §4): with --c2pa-cert/--c2pa-key, exported PNGs and mp4s carry a signed manifest of
digital source type trainedAlgorithmicMedia, and `verify` reports it and its validation state. The signing
identities are throw-away certificates made here with `cryptography`."""
from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("c2pa")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from pav.c2pa_manifest import DIGITAL_SOURCE_TYPE, load_signing  # noqa: E402
from pav.io import write_png  # noqa: E402
from pav.provenance import Provenance, verify  # noqa: E402
from test_provenance import head_like_frame  # noqa: E402

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SHA = "c2fa" + "7" * 60


def _usage(**on) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def make_identity(folder: Path, tag: str) -> SimpleNamespace:
    """A throw-away CA and an end-entity signing certificate it issued (EC P-256), as PEM files."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"PAV tests {tag}")])

    def cert(subject, key, issuer, issuer_key, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=7))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(_usage(key_cert_sign=True, crl_sign=True) if ca else _usage(digital_signature=True),
                            critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if not ca:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                critical=False)
        return b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_pem = cert(name(f"PAV test CA {tag}"), ca_key, name(f"PAV test CA {tag}"), ca_key, True)
    leaf_pem = cert(name(f"PAV test signer {tag}"), key, name(f"PAV test CA {tag}"), ca_key, False)
    folder.mkdir(parents=True, exist_ok=True)
    paths = SimpleNamespace(cert=folder / f"{tag}_chain.pem", key=folder / f"{tag}_key.pem", ca=folder / f"{tag}_ca.pem")
    paths.cert.write_bytes(leaf_pem + ca_pem)
    paths.ca.write_bytes(ca_pem)
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return make_identity(tmp_path_factory.mktemp("c2pa"), "a")


def test_signed_png_says_trained_algorithmic_media_validates_and_keeps_its_pixels_and_marks(identity, tmp_path):
    assert DIGITAL_SOURCE_TYPE == IPTC  # the IPTC vocabulary's term, written out independently here
    frame = head_like_frame(4, 128)
    prov = Provenance(SHA, "beard", c2pa=load_signing(identity.cert, identity.key))
    signed, plain = tmp_path / "signed.png", tmp_path / "plain.png"
    write_png(signed, frame, provenance=prov)
    write_png(plain, frame, provenance=Provenance(SHA, "beard"))
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(signed)), np.asarray(Image.open(plain)))
    v = verify(signed)
    assert v.c2pa.state == "Valid" and v.c2pa.digital_source_type == IPTC
    assert v.c2pa.failures == ["signingCredential.untrusted"]  # intact, signer not on any trust list
    assert v.c2pa.signer == "PAV test signer a (issuer PAV tests a)"
    assert v.c2pa.record == v.metadata and v.metadata["c2pa"] == "signed manifest"
    assert v.watermark.found and v.watermark.payload == 0xC2FA and v.consistent is True
    trusted = verify(signed, identity.ca.read_bytes()).c2pa
    assert trusted.state == "Trusted" and trusted.failures == []
    stranger = make_identity(tmp_path, "b")
    assert verify(signed, stranger.ca.read_bytes()).c2pa.state == "Valid"  # another CA does not vouch for it
    assert verify(plain).c2pa is None


def test_a_changed_byte_after_signing_makes_the_manifest_invalid(identity, tmp_path):
    path = tmp_path / "s.png"
    write_png(path, head_like_frame(6, 96), provenance=Provenance(SHA, "short", c2pa=load_signing(identity.cert,
                                                                                                 identity.key)))
    data = bytearray(path.read_bytes())
    at = data.find(b"tEXtDescription\x00Synthetic")  # rewrite "Synthetic" to "Authentic" in the tEXt chunk
    assert at > 0
    n = int.from_bytes(data[at - 4:at], "big")
    data[at + 16:at + 25] = b"Authentic"
    data[at + 4 + n:at + 8 + n] = zlib.crc32(bytes(data[at:at + 4 + n])).to_bytes(4, "big")  # a valid PNG still
    path.write_bytes(bytes(data))
    v = verify(path)
    assert v.metadata["synthetic"] is True  # the file still reads
    assert v.c2pa.state == "Invalid" and "assertion.dataHash.mismatch" in v.c2pa.failures


def test_exported_clip_carries_a_valid_manifest_and_its_tags(identity, tmp_path):
    from pav.export import ClipFrame, export_clip

    class StubAvatar:  # export_clip only needs render()
        appearance_names = ["short"]
        checkpoint_sha256 = SHA

        def render(self, camera, expression, pose, appearance, translation=None, background=None):
            return SimpleNamespace(rgb=torch.from_numpy(head_like_frame(int(expression[0]), 96)).float() / 255)

    frames = [ClipFrame(SimpleNamespace(width=96, height=96), torch.tensor([float(k)]), None, None, "short")
              for k in range(4)]
    clip = tmp_path / "clip.mp4"
    export_clip(StubAvatar(), frames, clip, fps=10,
                provenance=Provenance(SHA, "short", c2pa=load_signing(identity.cert, identity.key)))
    v = verify(clip, identity.ca.read_bytes())
    assert v.kind == "video" and v.metadata["appearance"] == "short" and v.metadata["c2pa"] == "signed manifest"
    assert v.c2pa.state == "Trusted" and v.c2pa.digital_source_type == IPTC and v.c2pa.record == v.metadata
    assert not list(tmp_path.glob(".*"))  # no temporary files left beside it


def test_verify_cli_reports_the_manifest(identity, tmp_path, capsys):
    from pav.cli import main

    png = tmp_path / "m.png"
    write_png(png, head_like_frame(2, 96), provenance=Provenance(SHA, "x", c2pa=load_signing(identity.cert,
                                                                                            identity.key)))
    report = tmp_path / "r.json"
    assert main(["verify", str(png), "--c2pa-trust", str(identity.ca), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "C2PA manifest: Trusted; digital source type trainedAlgorithmicMedia; signed by PAV test signer a" in out
    assert json.loads(report.read_text())["c2pa"]["digital_source_type"] == IPTC
    assert main(["verify", str(png), "--c2pa-trust", str(identity.key)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a PEM certificate file" in err[0]


@pytest.mark.parametrize("case", ["cert only", "ca as signer", "key of another cert", "key not pem", "missing"])
def test_bad_signing_input_is_one_line_before_any_work(identity, tmp_path, capsys, case):
    from pav.cli import main

    other = make_identity(tmp_path, "c")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    flags = {"cert only": ["--c2pa-cert", str(identity.cert)],
             "ca as signer": ["--c2pa-cert", str(identity.ca), "--c2pa-key", str(identity.key)],
             "key of another cert": ["--c2pa-cert", str(identity.cert), "--c2pa-key", str(other.key)],
             "key not pem": ["--c2pa-cert", str(identity.cert), "--c2pa-key", str(junk)],
             "missing": ["--c2pa-cert", str(tmp_path / "nope.pem"), "--c2pa-key", str(identity.key)]}[case]
    expect = {"cert only": "go together", "ca as signer": "C2PA refuses them", "key of another cert":
              "C2PA refuses them", "key not pem": "not an unencrypted PEM private key", "missing": "not found"}[case]
    # the checkpoint does not exist: the signing identity is checked first, so its error is the one reported
    assert main(["render", str(tmp_path / "no.pav"), "--out", str(tmp_path / "o.mp4"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0], err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare for a network-less run")
def test_signing_and_validation_work_without_a_network(identity, tmp_path):
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode:
        pytest.skip("unprivileged network namespaces are not allowed here")
    script = ("import sys, numpy as np; from pav.io import write_png; from pav.provenance import Provenance, verify;"
              "from pav.c2pa_manifest import load_signing;"
              "p = Provenance('ab' * 32, 'x', c2pa=load_signing(sys.argv[1], sys.argv[2]));"
              "write_png(sys.argv[3], np.full((64, 64, 3), 128, np.uint8), provenance=p);"
              "print(verify(sys.argv[3], open(sys.argv[4], 'rb').read()).c2pa.state)")
    run = subprocess.run(["unshare", "-rn", sys.executable, "-c", script, str(identity.cert), str(identity.key),
                          str(tmp_path / "o.png"), str(identity.ca)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "Trusted"


def test_without_c2pa_python_verify_says_not_checked_and_signing_says_what_to_install(identity, tmp_path,
                                                                                      monkeypatch):
    png = tmp_path / "p.png"
    write_png(png, head_like_frame(1, 96), provenance=Provenance(SHA, "x"))
    monkeypatch.setitem(sys.modules, "c2pa", None)  # `import c2pa` now raises ImportError
    v = verify(png)
    assert v.c2pa.state == "not checked: C2PA manifests need c2pa-python: pip install c2pa-python"
    assert v.watermark.found and v.metadata["appearance"] == "x"  # the rest of the report still comes
    with pytest.raises(ValueError, match="pip install c2pa-python"):
        load_signing(identity.cert, identity.key)
