// Publish an event of your own to Lectern over RabbitMQ with amqplib (docs/producers.md).
// The integration tests in tests/integration/producers run exactly this file.
//
//   npm ci
//   AMQP_URL=amqp://producer:...@rabbitmq:5672/ node publish.js support.ticket.closed s-1 ticket_id=T-42
//
// Prints {"event_id": "..."} once the broker confirmed the message; exits 1 otherwise.
"use strict";
const crypto = require("node:crypto");
const amqp = require("amqplib");

const EVENTS_EXCHANGE = "lectern.events";

async function publishEvent(url, eventType, sessionId, fields) {
  const connection = await amqp.connect(url);
  connection.on("error", () => {}); // the failure also rejects the pending call below
  try {
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => {});
    const returned = [];
    channel.on("return", (message) => returned.push(message.properties.messageId));
    const event = {
      event_id: crypto.randomUUID(),
      occurred_at: new Date().toISOString(),
      event_type: eventType,
      session_id: sessionId || null,
      correlation_id: null,
      schema_version: 1,
      ...fields,
    };
    channel.publish(EVENTS_EXCHANGE, eventType, Buffer.from(JSON.stringify(event)), {
      contentType: "application/json",
      persistent: true,
      mandatory: true,
      messageId: event.event_id,
      type: eventType,
    });
    await channel.waitForConfirms(); // rejects if the broker nacked
    if (returned.includes(event.event_id)) {
      throw new Error(`unroutable: no queue is bound for ${eventType}`);
    }
    return event;
  } finally {
    await connection.close();
  }
}

async function main() {
  const [eventType, sessionId, ...pairs] = process.argv.slice(2);
  if (!eventType) {
    console.error("usage: node publish.js EVENT_TYPE [SESSION_ID] [key=value ...]");
    process.exit(2);
  }
  const fields = Object.fromEntries(pairs.map((pair) => pair.split(/=(.*)/s, 2)));
  const url = process.env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672/";
  const event = await publishEvent(url, eventType, sessionId, fields);
  console.log(JSON.stringify({ event_id: event.event_id }));
}

main().catch((error) => {
  console.error(`not published: ${error.message}`);
  process.exit(1);
});
