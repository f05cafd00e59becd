<?php
/**
 * A client for solo's client socket (solo-client(7)): push jobs, call a job and get its
 * result, wait for a group, read queue counts. One file, no extension (stream_socket_client):
 * copy it into your application.
 *
 *     $solo = new SoloClient('/run/solo/client.sock');
 *     $ids = $solo->push(['mail 1', 'mail 2'], 'mail', ['group' => 'batch-7']);
 *     $result = $solo->call('{"resize":42}', 'images', 10.0);       // the worker's result
 *     foreach ($solo->waitGroup('batch-7')['jobs'] as $job) echo $job['id'], ' ', $job['state'], "\n";
 *
 * Every method throws SoloException when solo refuses or the job failed ($e->reply holds the
 * answer: 'state' => 'dead' for a failed job, 'timeout' => true when the wait ran out; the
 * job stays queued). The connection is kept for the next request (one at a time); solo
 * closes a connection quiet for 10 minutes, so one quiet for 5 is replaced first.
 */
final class SoloException extends RuntimeException
{
    /** @var array The answer solo gave, if any. */
    public array $reply;

    public function __construct(string $message, array $reply = [])
    {
        parent::__construct($message);
        $this->reply = $reply;
    }

    public function timedOut(): bool
    {
        return !empty($this->reply['timeout']);
    }
}

final class SoloClient
{
    /** @var resource|null */
    private $socket = null;
    private string $pending = '';
    private float $used = 0.0;
    /** Half of the 10 minutes after which solo closes a quiet connection. */
    private const IDLE_LIMIT = 300.0;

    public function __construct(private string $path = '/run/solo/client.sock', private float $connectTimeout = 5.0)
    {
    }

    /**
     * Queues one payload (a string) or several (an array); returns the job ids, in order.
     * Options: priority, delay (seconds or "5m"), max_attempts, group, key, unique,
     * unique_payload, unique_for.
     */
    public function push(string|array $payloads, ?string $queue = null, array $options = []): array
    {
        $request = ['command' => 'push', 'queue' => $queue] + $options;
        if (is_string($payloads)) {
            $request['payload'] = $payloads;
        } else {
            $request['payloads'] = array_values($payloads);
        }
        return $this->request($request)['jobs'];
    }

    /** Queues one job and returns the worker's result once it is done. */
    public function call(string $payload, ?string $queue = null, float $timeout = 30.0, array $options = []): ?string
    {
        $request = ['command' => 'call', 'payload' => $payload, 'queue' => $queue, 'timeout' => $timeout] + $options;
        return $this->request($request, $timeout)['result'];
    }

    /**
     * Waits until every job of the group is done or dead; returns ['done', 'dead', 'jobs']
     * with each job's id, state and result (or error).
     */
    public function waitGroup(string $group, ?string $queue = null, float $timeout = 30.0): array
    {
        return $this->request(['command' => 'wait', 'group' => $group, 'queue' => $queue, 'timeout' => $timeout], $timeout);
    }

    /** The counts of the queue (of every queue without one): ready, delayed, reserved, dead. */
    public function counts(?string $queue = null): array
    {
        return $this->request(['command' => 'counts', 'queue' => $queue])['queues'];
    }

    /** Sends one request and returns the answer; throws SoloException on a refusal. */
    public function request(array $request, float $wait = 0.0): array
    {
        $request = array_filter($request, fn ($value) => $value !== null);
        $socket = $this->connection();
        $line = json_encode($request, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR) . "\n";
        $deadline = microtime(true) + $this->connectTimeout + $wait;
        for ($sent = 0; $sent < strlen($line); $sent += $n) {
            $n = fwrite($socket, substr($line, $sent));
            if ($n === false || $n === 0) {
                $this->close();
                throw new SoloException('cannot send to solo at ' . $this->path);
            }
        }
        while (($end = strpos($this->pending, "\n")) === false) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                $this->close();
                throw new SoloException('solo did not answer in time');
            }
            stream_set_timeout($socket, (int) $left, (int) (($left - (int) $left) * 1e6));
            $chunk = fread($socket, 65536);
            if ($chunk === false || ($chunk === '' && feof($socket))) {
                $this->close();
                throw new SoloException('solo closed the connection');
            }
            $this->pending .= $chunk;
        }
        $this->used = microtime(true);
        $reply = json_decode(substr($this->pending, 0, $end), true, 512, JSON_THROW_ON_ERROR);
        $this->pending = (string) substr($this->pending, $end + 1);
        if (empty($reply['ok'])) {
            throw new SoloException($reply['error'] ?? 'solo refused the request', $reply);
        }
        return $reply;
    }

    public function close(): void
    {
        if ($this->socket !== null) {
            fclose($this->socket);
        }
        $this->socket = null;
        $this->pending = '';
    }

    /** @return resource */
    private function connection()
    {
        if ($this->socket !== null && microtime(true) - $this->used > self::IDLE_LIMIT) {
            $this->close();
        }
        if ($this->socket === null) {
            $socket = @stream_socket_client('unix://' . $this->path, $code, $message, $this->connectTimeout);
            if ($socket === false) {
                throw new SoloException("cannot connect to solo at {$this->path}: $message");
            }
            $this->socket = $socket;
        }
        return $this->socket;
    }

    public function __destruct()
    {
        $this->close();
    }
}
