// A complete WhatsApp bot on lumen, in plain Node (no SDK, never Meta's token): run it with
//   lumen relay start --exec 'node examples/bot.mjs'
// Each inbound message arrives as JSON on stdin; the relay's local API (LUMEN_API_URL, LUMEN_API_KEY) sends answers.
const message = JSON.parse(await new Response(process.stdin).text());
const send = (body) =>
  fetch(`${process.env.LUMEN_API_URL}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${process.env.LUMEN_API_KEY}`, 'idempotency-key': `bot:${message.id}` },
    body: JSON.stringify({ to: message.from, ...body }),
  }).then((answer) => answer.json());

if (message.type === 'image') {
  console.error(`picture saved at ${message.media?.path} (${message.media?.size} bytes)`);
  await send({ text: 'Nice picture! Shall I keep it?', buttons: [{ id: 'keep', title: 'Keep it' }, { id: 'delete', title: 'Delete it' }] });
} else if (message.type === 'interactive') {
  const choice = message.raw.interactive?.button_reply?.id;
  await send({ text: choice === 'keep' ? 'Kept 👍' : 'Deleted.' });
} else {
  await send({ text: 'Send me a picture and I will ask what to do with it.' });
}
