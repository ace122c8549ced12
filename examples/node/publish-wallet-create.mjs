// Publish a signed `wallet.create` command with amqplib and wait for its outcome event.
//
// A plain AMQP client, no code from this repository: what any publisher has to do.
//
// Environment:
//   AMQP_URL               broker URL, default amqp://guest:guest@127.0.0.1:5672/
//   TRON_NAMESPACE         the worker's amqp.namespace, default `tron`
//                          (exchanges <namespace>.commands and <namespace>.events)
//   TRON_KEY_ID            your publisher key id, one of the worker's TRON_WORKER_AMQP__HMAC_KEYS
//   TRON_HMAC_SECRET       that key id's secret (the HMAC key is its UTF-8 bytes)
//   TRON_IDEMPOTENCY_KEY   optional; default a new one. Resend with the same key to retry safely
//   TRON_TIMEOUT_S         optional; how long to wait for the outcome, default 60
//
// Run (the worker must be running: it declares the exchanges and queues):
//   cd examples/node && npm ci && node publish-wallet-create.mjs
//
// Prints the command's terminal event (`wallet.created`, `wallet.rejected` or `wallet.failed`)
// as JSON on stdout, progress on stderr. Exit status: 0 wallet.created, 1 rejected or failed,
// 2 no outcome in time or the broker refused something.
import { createHmac, randomUUID } from "node:crypto";

import amqp from "amqplib";

const TERMINAL = new Set(["wallet.created", "wallet.rejected", "wallet.failed"]);

function buildCommand(idempotencyKey) {
  // The envelope: the worker refuses unknown fields, so send exactly these.
  return {
    command_id: randomUUID(),
    idempotency_key: idempotencyKey,
    type: "wallet.create",
    schema_version: 1,
    issued_at: new Date().toISOString(),
    payload: { count: 1, purpose: "deposit", labels: ["example"] },
  };
}

function sign(body, secret) {
  // Lowercase hex HMAC-SHA256 of the exact bytes that are published.
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(body).digest("hex");
}

function isOurs(event, properties, commandId) {
  // A rejection of a delivery the worker could not authenticate names no command
  // (command_id is null); it still carries our correlation_id.
  return event.command_id === commandId || properties.correlationId === commandId;
}

async function main() {
  const url = process.env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672/";
  const namespace = process.env.TRON_NAMESPACE || "tron";
  const keyId = process.env.TRON_KEY_ID;
  const secret = process.env.TRON_HMAC_SECRET;
  if (!keyId || !secret) {
    console.error("set TRON_KEY_ID and TRON_HMAC_SECRET (see the top of this file)");
    return 2;
  }
  const idempotencyKey =
    process.env.TRON_IDEMPOTENCY_KEY || `example-${randomUUID().replaceAll("-", "")}`;
  const timeoutMs = Number(process.env.TRON_TIMEOUT_S || "60") * 1000;

  const command = buildCommand(idempotencyKey);
  const commandId = command.command_id;
  const body = Buffer.from(JSON.stringify(command), "utf8"); // these bytes are signed and sent

  let connection;
  try {
    connection = await amqp.connect(url);
  } catch (error) {
    const where = url.split("@").pop(); // never print the password
    console.error(`cannot connect to ${where}: ${error.message}`);
    return 2;
  }
  // A broker error (e.g. 404: no such exchange) closes the channel and fails the pending
  // operation; keep it to say why (and without a listener the "error" event would throw).
  let brokerError;
  connection.on("error", (error) => (brokerError = error));
  try {
    const channel = await connection.createConfirmChannel();
    channel.on("error", (error) => (brokerError = error));
    // Our own queue, bound BEFORE publishing so no event can be missed; exclusive:
    // the broker deletes it when this connection closes.
    const { queue } = await channel.assertQueue("", { exclusive: true });
    await channel.bindQueue(queue, `${namespace}.events`, "wallet.#");

    let returned = false;
    // With `mandatory`, an unroutable message comes back (basic.return) before its confirm.
    channel.on("return", () => {
      returned = true;
    });
    await new Promise((resolve, reject) => {
      channel.publish(
        `${namespace}.commands`,
        `command.${command.type}`,
        body,
        {
          contentType: "application/json",
          deliveryMode: 2,
          messageId: commandId,
          correlationId: commandId,
          headers: { "x-key-id": keyId, "x-signature": sign(body, secret) },
          mandatory: true,
        },
        (error) => (error ? reject(new Error(`not confirmed: ${error.message}`)) : resolve()),
      );
    });
    if (returned) {
      throw new Error(`no queue is bound for command.${command.type} on ${namespace}.commands`);
    }
    console.error(`published ${commandId} (idempotency key ${idempotencyKey})`);
    // Events that arrived meanwhile wait in our queue: consuming only now misses none.
    return await waitForOutcome(channel, queue, commandId, timeoutMs);
  } catch (error) {
    const reason = (brokerError ?? error).message;
    console.error(
      `the broker refused: ${reason} (is the worker running with namespace ${namespace}?)`,
    );
    return 2;
  } finally {
    await connection.close().catch(() => {});
  }
}

async function waitForOutcome(channel, queue, commandId, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      console.error(`no outcome for ${commandId} within ${timeoutMs / 1000} s`);
      resolve(2);
    }, timeoutMs);
    channel.once("close", () => {
      clearTimeout(timer); // after an outcome this is our own close, and a no-op
      reject(new Error("the channel closed while waiting for events"));
    });
    channel
      .consume(
        queue,
        (message) => {
          if (message === null) return; // consumer cancelled by the broker
          const event = JSON.parse(message.content.toString("utf8"));
          if (!isOurs(event, message.properties, commandId)) return;
          console.error(`event ${event.type}`);
          if (TERMINAL.has(event.type)) {
            clearTimeout(timer);
            console.log(JSON.stringify(event, null, 2));
            resolve(event.type === "wallet.created" ? 0 : 1);
          }
        },
        { noAck: true },
      )
      .catch((error) => {
        clearTimeout(timer);
        reject(error);
      });
  });
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    console.error(error);
    process.exitCode = 2;
  },
);
