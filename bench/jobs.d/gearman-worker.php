<?php
// A Gearman worker with php-gearman: one function, "bench", run until killed.
require __DIR__ . '/job.php';
$worker = new GearmanWorker();
$worker->addServer('127.0.0.1', (int)$argv[1]);
$worker->addFunction('bench', function (GearmanJob $job) { run_job($job->workload()); });
while ($worker->work()) {
}
fwrite(STDERR, "gearman-worker: " . $worker->error() . "\n");
exit(1);
