<?php
// Symfony Messenger from Debian's packages (php-symfony-messenger, php-symfony-redis-messenger,
// php-redis), wired up without composer or the framework: its Redis transport (a stream) and
// its Worker, as `messenger:consume` runs it (sleep 1 s when the queue is empty, the default).
//   php messenger.php worker PORT   consume until killed
//   php messenger.php push PORT     send each line of stdin as a message, "ok" on stdout for each
require '/usr/share/php/Symfony/Component/Messenger/autoload.php';
require '/usr/share/php/Symfony/Component/Messenger/Bridge/Redis/autoload.php';
require __DIR__ . '/job.php';

use Symfony\Component\Messenger\Bridge\Redis\Transport\Connection;
use Symfony\Component\Messenger\Bridge\Redis\Transport\RedisTransport;
use Symfony\Component\Messenger\Envelope;
use Symfony\Component\Messenger\Handler\HandlersLocator;
use Symfony\Component\Messenger\MessageBus;
use Symfony\Component\Messenger\Middleware\HandleMessageMiddleware;
use Symfony\Component\Messenger\Worker;

final class BenchJob {
    public function __construct(public string $payload) {}
}

[, $mode, $port] = $argv;
$transport = new RedisTransport(Connection::fromDsn("redis://127.0.0.1:$port/bench",
    ['consumer' => 'worker-' . getmypid(), 'delete_after_ack' => true]));
if ($mode === 'worker') {
    $bus = new MessageBus([new HandleMessageMiddleware(new HandlersLocator([
        BenchJob::class => [function (BenchJob $job) { run_job($job->payload); }],
    ]))]);
    (new Worker(['redis' => $transport], $bus))->run();
} else {
    while (($line = fgets(STDIN)) !== false) {
        $transport->send(new Envelope(new BenchJob(rtrim($line, "\n"))));
        fwrite(STDOUT, "ok\n");
    }
}
