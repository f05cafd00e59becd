<?php
// A feed-mode worker: boots once, then a job per line on stdin, its outcome on fd 3.
require __DIR__ . '/job.php';
$fd3 = fopen('php://fd/3', 'w');
fwrite($fd3, "ready\n");
while (($line = fgets(STDIN)) !== false) {
    fwrite($fd3, 'ok ' . bench_job(rtrim($line, "\n")) . "\n");
}
