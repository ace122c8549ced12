"""The client side of the contract at a terminal: `submit`, `events`, `status`,
`wallets list` and `dlq list|show|replay`, each with `--json` for scripts.

    submit   build an envelope, validate it with the worker's own parser, sign it as
             worker/auth.py checks it, publish it with confirms; --wait follows its events
    events   tail the events exchange through a temporary exclusive queue
    status   a command as the database holds it: state, attempts and their fates, events
    wallets  the managed wallets (never their keys), with balances read from a node
    dlq      dead letters: list and show without consuming them, replay with confirms

worker/cli.py hands these subcommands' whole command line to `main` (and imports this
package only when one runs): `submit` takes the payload's fields as free-form
`--<field> value` options, which only this parser knows how to read.

Exit codes: 0 done; 1 not found, failed, rejected or unreachable; 2 bad usage or
settings; 3 needs attention; 4 timed out waiting (submit --wait).
Everything a publisher or the chain wrote (keys, labels, bodies, messages) is printed as
text with its control characters escaped, never as markup.
"""

from worker.client.args import build_envelope, choose_key, encode, parse_fields, parse_value, sign
from worker.client.common import CliError
from worker.client.run import main

__all__ = [
    "CliError",
    "build_envelope",
    "choose_key",
    "encode",
    "main",
    "parse_fields",
    "parse_value",
    "sign",
]
