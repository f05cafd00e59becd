<?php
// A process per job, as the seed's popen('php ...') did: the payload is the first argument.
require __DIR__ . '/job.php';
echo bench_job($argv[1]), "\n";
