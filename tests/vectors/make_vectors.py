#!/usr/bin/env python3
"""Writes tests/vectors/signatures.json: webhook signatures made by the providers' own tools.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install plivo signalwire pynacl telnyx
    /tmp/v/bin/python tests/vectors/make_vectors.py > tests/vectors/signatures.json

- SignalWire: the request validator of its SDK (`signalwire.request_validator.RequestValidator`), which signs
  form webhooks with Twilio's scheme; every vector is also checked with its `validate`.
- Plivo: `plivo.utils.signature_v3`: the signature is computed with its `get_signature_v3` over the base
  string its `construct_post_url` builds, and checked with its `validate_v3_signature`.
- Telnyx: Ed25519 signatures made with PyNaCl from a fixed seed over `{timestamp}|{body}`, checked with
  Telnyx's SDK (`telnyx.lib.webhook_verification.verify_webhook_signature`, its clock set to each vector's
  timestamp: it refuses a timestamp more than 5 minutes from now).

The Rust tests read only the JSON: the suite needs neither Python nor the network.
"""

import base64
import json
from urllib.parse import urlencode

from nacl.signing import SigningKey
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3, validate_v3_signature
from signalwire.request_validator import RequestValidator
from telnyx.lib import webhook_verification

SIGNALWIRE_KEY = "PSK_7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4"
PLIVO_TOKEN = "MzY1ZjQ0ZDctYjU2Ni00YmRhLWE1ZTAtNGY2ZmY3"
TELNYX_SEED = bytes(range(1, 33))


def form(pairs):
    return urlencode(pairs)


def signalwire_vectors():
    validator = RequestValidator(SIGNALWIRE_KEY)
    cases = [
        ("https://voice.example.com/voice/incoming", [
            ("AccountSid", "b3877c40-da60-4998-90ad-b792e98472af"),
            ("CallSid", "ab59e3f7-67d4-4c9f-8b1a-3c5e8f0d2a11"),
            ("From", "+15551234567"),
            ("To", "+18005550100"),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
        ]),
        ("https://voice.example.com/voice/step/case_number/digits?line=us&n.case_number=2&v.note=a+b%26c", [
            ("CallSid", "ab59e3f7-67d4-4c9f-8b1a-3c5e8f0d2a11"),
            ("Digits", "123456#"),
            ("From", "+15551234567"),
            ("To", "+18005550100"),
            ("Caller", "Zoë \"ACME\" & Co"),
        ]),
        ("https://voice.example.com:443/voice/step/bridge/dialed?line=us&v.case=123456", [
            ("CallSid", "ab59e3f7-67d4-4c9f-8b1a-3c5e8f0d2a11"),
            ("DialCallStatus", "completed"),
            ("DialCallDuration", "312"),
        ]),
    ]
    out = []
    for url, params in cases:
        signature = validator.build_signature_with_compatibility(url, dict(params))
        assert validator.validate(url, dict(params), signature)
        out.append({"url": url, "body": form(params), "signature": signature})
        # The same request, reached without the default port: the validator accepts both.
        if ":443" in url:
            plain = url.replace(":443", "")
            assert validator.validate(plain, dict(params), signature)
            out.append({"url": plain, "body": form(params), "signature": signature})
    return {"signing_key": SIGNALWIRE_KEY, "cases": out}


def plivo_vectors():
    cases = [
        ("https://voice.example.com/voice/incoming", [
            ("CallUUID", "9d9a1f1e-1a5f-11ef-9a0e-0242ac120002"),
            ("From", "15551234567"),
            ("To", "18005550100"),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("Event", "StartApp"),
        ], "31277243659613426462", 0),
        ("https://voice.example.com/voice/step/case_number/digits?v.note=a+b%26c&line=us&n.case_number=2", [
            ("CallUUID", "9d9a1f1e-1a5f-11ef-9a0e-0242ac120002"),
            ("Digits", "123456"),
            ("From", "15551234567"),
            ("To", "18005550100"),
            ("CallerName", "Zoë \"ACME\" & Co"),
        ], "70125924468023587710", 1),
        ("https://voice.example.com/voice/step/bridge/dialed?line=us&v.case=123456", [
            ("CallUUID", "9d9a1f1e-1a5f-11ef-9a0e-0242ac120002"),
            ("DialStatus", "completed"),
            ("DialALegUUID", "9d9a1f1e-1a5f-11ef-9a0e-0242ac120002"),
            ("DialBLegUUID", "b1c2d3e4-1a5f-11ef-9a0e-0242ac120002"),
        ], "00000000000000000001", 2),
    ]
    out = []
    for url, params, nonce, extra in cases:
        base = construct_post_url(url, dict(params)).decode("utf-8")
        signature = get_signature_v3(PLIVO_TOKEN.encode(), base, nonce.encode()).decode()
        # Plivo may send several signatures (during a token rotation): any one that matches is enough.
        header = signature
        if extra == 1:
            header = "c2lnbmVkIHdpdGggYW5vdGhlciB0b2tlbg==," + signature
        elif extra == 2:
            header = signature + ",c2lnbmVkIHdpdGggYW5vdGhlciB0b2tlbg=="
        assert validate_v3_signature("POST", url, nonce, PLIVO_TOKEN, header, dict(params))
        out.append({"url": url, "body": form(params), "nonce": nonce, "signature": header,
                    "matching": signature, "base": base})
    return {"auth_token": PLIVO_TOKEN, "cases": out}


def telnyx_verify(payload, signature_b64, timestamp, public_key_b64):
    """Telnyx's SDK's check of a webhook, at the webhook's own time (raises when it fails)."""
    webhook_verification.time.time = lambda: int(timestamp)
    headers = {"telnyx-signature-ed25519": signature_b64, "telnyx-timestamp": timestamp}
    webhook_verification.verify_webhook_signature(payload, headers, public_key_b64)
    return True


def telnyx_vectors():
    signing = SigningKey(TELNYX_SEED)
    public_key = base64.b64encode(bytes(signing.verify_key)).decode()
    cases = [
        ("1795898400", [
            ("AccountSid", "f5586561-8ff0-4291-a51b-c7dfe4139ff9"),
            ("CallSid", "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ"),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("From", "+15551234567"),
            ("To", "+18005550100"),
        ]),
        ("1795898461", [
            ("CallSid", "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ"),
            ("Digits", "123456#"),
            ("From", "+15551234567"),
            ("To", "+18005550100"),
            ("CallerId", "Zoë \"ACME\" & Co"),
        ]),
    ]
    out = []
    for timestamp, params in cases:
        body = form(params)
        signed = signing.sign(("%s|%s" % (timestamp, body)).encode("utf-8")).signature
        signature = base64.b64encode(signed).decode()
        assert telnyx_verify(body, signature, timestamp, public_key)
        out.append({"url": "https://voice.example.com/voice/incoming", "timestamp": timestamp,
                    "body": body, "signature": signature})
    return {"seed_hex": TELNYX_SEED.hex(), "public_key": public_key, "cases": out}


if __name__ == "__main__":
    print(json.dumps({
        "signalwire": signalwire_vectors(),
        "plivo": plivo_vectors(),
        "telnyx": telnyx_vectors(),
    }, indent=2, ensure_ascii=False))
