<?php
// Through PHP-FPM with solo's FastCGI executor: the payload is the request body.
require __DIR__ . '/job.php';
echo bench_job(file_get_contents('php://input'));
