// Ask devnet to build a USDT transfer (/wallet/triggersmartcontract) and report whether
// TronWeb 6 accepts what comes back; it re-encodes the call it asked for and compares
// (txCheckWithArgs), so a node that rewrote the recipient is caught before signing.
//
//   node refuse_tampered.mjs <devnet-url> <private-key-hex> <recipient>
//
// Prints {"refused": bool, "message": str}; exit status 1 only when the script itself fails.

import { TronWeb } from 'tronweb';

const USDT = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t';

async function main() {
  const [url, privateKey, recipient] = process.argv.slice(2);
  if (!url || !privateKey || !recipient) {
    throw new Error('usage: node refuse_tampered.mjs <devnet-url> <private-key-hex> <recipient>');
  }
  const tronWeb = new TronWeb({ fullHost: url, privateKey });
  const sender = tronWeb.address.fromPrivateKey(privateKey);
  const parameters = [
    { type: 'address', value: recipient },
    { type: 'uint256', value: 1_000_000 },
  ];
  let outcome;
  try {
    await tronWeb.transactionBuilder.triggerSmartContract(
      USDT, 'transfer(address,uint256)', { feeLimit: 50_000_000 }, parameters, sender,
    );
    outcome = { refused: false, message: '' };
  } catch (error) {
    outcome = { refused: true, message: String(error?.message ?? error) };
  }
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().catch((error) => {
  process.stderr.write(`refuse_tampered.mjs failed: ${error?.stack ?? error}\n`);
  process.exit(1);
});
