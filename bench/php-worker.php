<?php
// The recycle bench's PHP worker: BOOT_MS of "framework boot" before `ready` (announced on
// BENCH_FIFO when ANNOUNCE is set), JOB_MS of waiting per job (a database query, an HTTP call),
// LEAK_KB kept per job. In poll mode (POLL=1) it makes up its own jobs. At the end (EOF in feed
// mode, SIGTERM in poll mode) it appends its peak RSS (VmHWM, in KiB) to $PEAK_FILE.
pcntl_async_signals(true);
$stop = false;
pcntl_signal(SIGTERM, function () use (&$stop) { $stop = true; });
$boot = (int)(getenv('BOOT_MS') ?: 0);
if ($boot > 0) usleep($boot * 1000);
$leak = (int)(getenv('LEAK_KB') ?: 0);
$wait = (int)(getenv('JOB_MS') ?: 0);
$fd3 = fopen('php://fd/3', 'w');
$kept = [];
fwrite($fd3, "ready\n");
if (getenv('ANNOUNCE')) file_put_contents(getenv('BENCH_FIFO'), getmypid() . ' ' . hrtime(true) . "\n", FILE_APPEND);
if (getenv('POLL')) {
    while (!$stop) {
        if ($leak > 0) $kept[] = str_repeat('x', $leak * 1024);
        fwrite($fd3, "ok\n");
    }
} else {
    while (($line = fgets(STDIN)) !== false) {
        if ($wait > 0) usleep($wait * 1000);
        if ($leak > 0) $kept[] = str_repeat('x', $leak * 1024);
        fwrite($fd3, "ok\n");
    }
}
if ($file = getenv('PEAK_FILE')) {
    preg_match('/VmHWM:\s+(\d+)/', file_get_contents('/proc/self/status'), $m);
    file_put_contents($file, $m[1] . "\n", FILE_APPEND);
}
