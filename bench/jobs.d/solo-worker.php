<?php
// solo's feed worker: a job a line on stdin, "ok" on fd 3 (solo(1), the worker protocol).
require __DIR__ . '/job.php';
$fd3 = fopen('php://fd/3', 'w');
fwrite($fd3, "ready\n");
while (($line = fgets(STDIN)) !== false) {
    run_job(rtrim($line, "\n"));
    fwrite($fd3, "ok\n");
}
