/**
 * kafkajs (2.2) arms a timer with a negative delay after each broker response; Node runs it at once
 * and, since Node 23, says so on stderr: a stray line among the JSON logs of every Kafka process.
 * That one warning is dropped; every other is printed as Node prints it.
 */
export function quietKafkajsTimerWarning(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    process.stderr.write(`(node:${process.pid}) ${warning.name}: ${warning.message}\n`);
  });
}
