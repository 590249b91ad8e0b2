"""`compliance bundle keygen` and `compliance bundle sign`: Ed25519 signatures for rule bundles.

    compliance bundle keygen --out keys/rules-2026         writes rules-2026.pem (private) and rules-2026.pub.pem
    compliance bundle sign rules.tar.gz --key keys/rules-2026.pem [--revision N] [--expires-in 90d]

`sign` checks that the bundle's rules load, then writes `rules.tar.gz.sig` beside
it (see `compliance.sources.signed`): upload both. The revision defaults to the
current time in seconds, so each signing is newer than the last.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from compliance.cli import COMMANDS
from compliance.cli.results import ExitCode
from compliance.errors import ConfigError, RuleFileError
from compliance.sources.signed import SIGNATURE_SUFFIX, generate_key, sign_bundle
from compliance.sources.unpack import BundleError, load_bundle

__all__ = ["add_parser", "run"]

_DURATION = re.compile(r"(\d+)([smhd])\Z")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "bundle",
        help=COMMANDS["bundle"],
        description="Make an Ed25519 key pair for signing rule bundles, or sign a bundle: servers configured "
        "with the public key (bundle_public_keys) take only bundles signed with the private one.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = actions.add_parser("keygen", help="write a new key pair: PREFIX.pem (private) and PREFIX.pub.pem")
    keygen.add_argument("--out", required=True, metavar="PREFIX", help="where to write the keys, without .pem")
    sign = actions.add_parser("sign", help="write BUNDLE.sig beside the bundle")
    sign.add_argument("bundle", metavar="BUNDLE", help="the bundle: a YAML rule file or a .tar.gz of a rules folder")
    sign.add_argument("--key", required=True, metavar="FILE", help="the private key (PEM), from keygen")
    sign.add_argument("--revision", type=int, metavar="N", help="a number larger than the last (default: now, in s)")
    sign.add_argument(
        "--expires-in", metavar="DURATION", help="how long servers take it: 90d, 12h... (default: no end)"
    )
    sign.add_argument(
        "-o", "--output", metavar="FILE", help=f"where to write the signature (default BUNDLE{SIGNATURE_SUFFIX})"
    )
    parser.set_defaults(run=run)


def _fail(message: str) -> int:
    sys.stderr.write(f"compliance bundle: {message}\n")
    return int(ExitCode.UNUSABLE)


def run(args: argparse.Namespace) -> int:
    try:
        return _keygen(args.out) if args.action == "keygen" else _sign(args)
    except ConfigError as error:
        return _fail(f"{error}.")
    except OSError as error:
        return _fail(f"{error.filename or ''}: {error.strerror or error}.")


def _keygen(prefix: str) -> int:
    private_pem, public_pem = generate_key()
    private_path, public_path = f"{prefix}.pem", f"{prefix}.pub.pem"
    if os.path.exists(private_path):
        return _fail(f"{private_path} exists already; choose another --out (a key is never overwritten).")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    with open(public_path, "wb") as handle:
        handle.write(public_pem)
    print(f"Wrote {private_path} (private: keep it where rules are signed, never on a server)")
    print(f"Wrote {public_path} (public: give it to the servers, in bundle_public_keys)")
    return int(ExitCode.OK)


def _sign(args: argparse.Namespace) -> int:
    with open(args.bundle, "rb") as handle:
        data = handle.read()
    try:
        load_bundle(data, os.path.basename(args.bundle))
    except (BundleError, RuleFileError) as error:
        return _fail(f"{args.bundle} does not load, so it is not signed:\n{error}")
    with open(args.key, "rb") as handle:
        private_pem = handle.read()
    expires = None
    if args.expires_in is not None:
        match = _DURATION.match(args.expires_in.strip())
        if match is None:
            return _fail(f"--expires-in {args.expires_in!r} is not a duration such as 90d, 12h or 30m.")
        expires = time.time() + int(match.group(1)) * _SECONDS[match.group(2)]
    revision = args.revision if args.revision is not None else int(time.time())
    signature = sign_bundle(data, private_pem, revision, expires)
    target = args.output or args.bundle + SIGNATURE_SUFFIX
    with open(target, "wb") as handle:
        handle.write(signature)
    print(f"Wrote {target}: revision {revision}" + ("" if expires is None else f", expires in {args.expires_in}"))
    return int(ExitCode.OK)
