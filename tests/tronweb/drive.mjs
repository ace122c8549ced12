// Drive TronWeb 6 against a devnet: TRX, USDT-TRC20, freeze and delegate, as a wallet does.
//
//   node drive.mjs <devnet-url> <funded-private-key-hex>
//
// Every transaction is built by TronWeb (system contracts locally on a reference block from
// /wallet/getblock, the TRC20 call by /wallet/triggersmartcontract), signed by TronWeb and
// broadcast through TronWeb; each is waited for until it is in a block, the last one until
// it is solidified. The summary (one JSON object) goes to stdout; TRACE=1 logs every HTTP
// exchange to stderr. Exit status 1, with the error on stderr, when anything goes wrong.

import { createHash } from 'node:crypto';
import { TronWeb } from 'tronweb';

const USDT = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t';
const TRX_AMOUNT_SUN = 12_345_678;
const USDT_AMOUNT = 2_500_000; // 2.5 USDT, 6 decimals
const FREEZE_SUN = 500_000_000; // 500 TRX for energy
const DELEGATE_SUN = 200_000_000; // 200 TRX of that energy, to the recipient
const LOCK_PERIOD_BLOCKS = 100;
const FEE_LIMIT_SUN = 50_000_000;
const POLL_MS = 50;
const WAIT_MS = 20_000;

function trace(tronWeb) {
  const seen = new Set();
  for (const provider of [tronWeb.fullNode, tronWeb.solidityNode]) {
    if (seen.has(provider.instance)) continue;
    seen.add(provider.instance);
    provider.instance.interceptors.response.use(
      (response) => {
        const { method, url, params, data } = response.config;
        const query = params ? ` ${JSON.stringify(params)}` : '';
        const body = data ? ` ${String(data).slice(0, 300)}` : '';
        const answer = JSON.stringify(response.data).slice(0, 300);
        process.stderr.write(`${method.toUpperCase()} /${url}${query}${body} -> ${response.status} ${answer}\n`);
        return response;
      },
      (error) => {
        const config = error.config ?? {};
        process.stderr.write(`${config.method} /${config.url} -> ${error.message}\n`);
        return Promise.reject(error);
      },
    );
  }
}

// A fresh account per run, derived from the funded key and the time (never reused).
function freshKey(fundedKey, label) {
  return createHash('sha256').update(`${fundedKey}/${label}/${Date.now()}/${Math.random()}`).digest('hex');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, probe) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const found = await probe();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

// The receipt once the transaction is in a block of the head view (wallet/gettransactioninfobyid).
function inBlock(tronWeb, txid) {
  return until(`${txid} in a block`, async () => {
    const info = await tronWeb.trx.getUnconfirmedTransactionInfo(txid);
    return info && info.blockNumber !== undefined ? info : null;
  });
}

async function broadcast(tronWeb, transaction, privateKey) {
  const signed = await tronWeb.trx.sign(transaction, privateKey);
  const answer = await tronWeb.trx.sendRawTransaction(signed);
  if (!answer.result) {
    const message = answer.message ? tronWeb.toUtf8(answer.message) : '';
    throw new Error(`broadcast refused: ${answer.code} ${message}`);
  }
  const info = await inBlock(tronWeb, signed.txID);
  return { signed, info };
}

function outcome(signed, info) {
  return {
    txid: signed.txID,
    block: info.blockNumber,
    fee_sun: info.fee ?? 0,
    receipt: info.receipt ?? {},
    result: info.receipt?.result ?? 'SUCCESS',
    ref_block_bytes: signed.raw_data.ref_block_bytes,
    ref_block_hash: signed.raw_data.ref_block_hash,
    expiration_ms: signed.raw_data.expiration,
  };
}

async function main() {
  const [url, privateKey] = process.argv.slice(2);
  if (!url || !privateKey) throw new Error('usage: node drive.mjs <devnet-url> <private-key-hex>');
  const tronWeb = new TronWeb({ fullHost: url, privateKey });
  if (process.env.TRACE === '1') trace(tronWeb);

  const sender = tronWeb.address.fromPrivateKey(privateKey);
  const recipientKey = freshKey(privateKey, 'recipient');
  const recipient = tronWeb.address.fromPrivateKey(recipientKey);

  // What a wallet reads before it sends anything.
  const nodeInfo = await tronWeb.trx.getNodeInfo();
  const chainParameters = await tronWeb.trx.getChainParameters();
  const witnesses = await tronWeb.trx.listSuperRepresentatives();
  const firstBlocks = await tronWeb.trx.getBlockRange(0, 2);
  const startBalance = await tronWeb.trx.getUnconfirmedBalance(sender);
  const startResources = await tronWeb.trx.getAccountResources(sender);
  const bandwidthPrices = await tronWeb.trx.getBandwidthPrices();
  const energyPrices = await tronWeb.trx.getEnergyPrices();

  // 1. TRX to a fresh account.
  const transfer = await tronWeb.transactionBuilder.sendTrx(recipient, TRX_AMOUNT_SUN, sender);
  const trx = await broadcast(tronWeb, transfer, privateKey);

  // 2. USDT: the contract's ABI from getcontract, an estimate, the call built by the node.
  const usdt = await tronWeb.contract().at(USDT);
  const usdtBefore = BigInt((await usdt.balanceOf(recipient).call()).toString());
  const parameters = [
    { type: 'address', value: recipient },
    { type: 'uint256', value: USDT_AMOUNT },
  ];
  const estimate = await tronWeb.transactionBuilder.estimateEnergy(
    USDT, 'transfer(address,uint256)', {}, parameters, sender,
  );
  const built = await tronWeb.transactionBuilder.triggerSmartContract(
    USDT, 'transfer(address,uint256)', { feeLimit: FEE_LIMIT_SUN }, parameters, sender,
  );
  if (!built.result?.result) throw new Error(`triggersmartcontract: ${JSON.stringify(built)}`);
  const token = await broadcast(tronWeb, built.transaction, privateKey);
  const usdtAfter = BigInt((await usdt.balanceOf(recipient).call()).toString());

  // 3. Stake 2.0: freeze for energy, then delegate part of it (locked) to the recipient.
  const freezeTx = await tronWeb.transactionBuilder.freezeBalanceV2(FREEZE_SUN, 'ENERGY', sender);
  const freeze = await broadcast(tronWeb, freezeTx, privateKey);
  const maxDelegatable = await tronWeb.trx.getCanDelegatedMaxSize(sender, 'ENERGY', { confirmed: false });
  const delegateTx = await tronWeb.transactionBuilder.delegateResource(
    DELEGATE_SUN, recipient, 'ENERGY', sender, true, LOCK_PERIOD_BLOCKS,
  );
  const delegate = await broadcast(tronWeb, delegateTx, privateKey);

  // What a wallet or an explorer reads afterwards.
  const confirmed = await until('the delegation to solidify', async () => {
    const info = await tronWeb.trx.getTransactionInfo(delegate.signed.txID);
    return info && info.blockNumber !== undefined ? info : null;
  });
  const confirmedTx = await tronWeb.trx.getConfirmedTransaction(delegate.signed.txID);
  const delegated = await tronWeb.trx.getDelegatedResourceV2(sender, recipient);
  const delegationIndex = await tronWeb.trx.getDelegatedResourceAccountIndexV2(sender);
  const senderAccount = await tronWeb.trx.getAccount(sender);
  const recipientResources = await tronWeb.trx.getAccountResources(recipient);
  const tokenBlock = await tronWeb.trx.getBlockByNumber(token.info.blockNumber);
  const contractInfo = await tronWeb.trx.getContractInfo(USDT);
  const headBlock = await tronWeb.trx.getCurrentBlock();
  const solidBlock = await tronWeb.trx.getConfirmedCurrentBlock();
  const latest = await tronWeb.fullNode.request('wallet/getblockbylatestnum', { num: 3 }, 'post');
  const transferTx = await tronWeb.trx.getTransaction(trx.signed.txID);

  const summary = {
    tronweb: TronWeb.version,
    node: { code_version: nodeInfo.configNodeInfo?.codeVersion, block: nodeInfo.block },
    sender,
    recipient,
    start: {
      balance_sun: startBalance,
      energy_limit: startResources.EnergyLimit ?? 0,
      free_net_limit: startResources.freeNetLimit ?? 0,
    },
    chain: {
      parameters: chainParameters.length,
      energy_fee: chainParameters.find((p) => p.key === 'getEnergyFee')?.value,
      witnesses: witnesses.length,
      first_blocks: firstBlocks.map((b) => b.block_header.raw_data.number ?? 0),
      bandwidth_prices: bandwidthPrices,
      energy_prices: energyPrices,
    },
    trx: { amount_sun: TRX_AMOUNT_SUN, ...outcome(trx.signed, trx.info) },
    usdt: {
      amount: USDT_AMOUNT,
      energy_estimate: estimate.energy_required,
      recipient_before: usdtBefore.toString(),
      recipient_after: usdtAfter.toString(),
      ...outcome(token.signed, token.info),
      log_count: (token.info.log ?? []).length,
      block_transactions: (tokenBlock.transactions ?? []).map((t) => t.txID),
    },
    freeze: { amount_sun: FREEZE_SUN, resource: 'ENERGY', ...outcome(freeze.signed, freeze.info) },
    delegate: {
      amount_sun: DELEGATE_SUN,
      resource: 'ENERGY',
      lock_period_blocks: LOCK_PERIOD_BLOCKS,
      max_size_before_sun: maxDelegatable.max_size ?? 0,
      ...outcome(delegate.signed, delegate.info),
      solidified_block: confirmed.blockNumber,
      solidified_ret: confirmedTx.ret?.[0]?.contractRet,
    },
    after: {
      sender_balance_sun: senderAccount.balance ?? 0,
      sender_frozen_v2: senderAccount.frozenV2 ?? [],
      sender_delegated_energy_sun: senderAccount.account_resource?.delegated_frozenV2_balance_for_energy ?? 0,
      delegated_resource: delegated.delegatedResource ?? [],
      delegation_index_to: delegationIndex.toAccounts ?? [],
      recipient_energy_limit: recipientResources.EnergyLimit ?? 0,
      usdt_contract_name: contractInfo.smart_contract?.name,
      head_block: headBlock.block_header.raw_data.number,
      solid_block: solidBlock.block_header.raw_data.number,
      latest_blocks: (latest.block ?? []).map((b) => b.block_header.raw_data.number),
      transfer_ret: transferTx.ret?.[0]?.contractRet,
    },
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error) => {
  process.stderr.write(`drive.mjs failed: ${error?.stack ?? error}\n`);
  process.exit(1);
});
