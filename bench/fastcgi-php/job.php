<?php
// The benchmark's job, the same code for all three ways of running it: a JSON payload in, a
// little work (a few hundred hashes), a JSON result out, with the moment the job ended
// (microtime) so that the bench can measure push-to-done.
function bench_job(string $payload): string {
    $job = json_decode($payload, true);
    $digest = '';
    for ($i = 0; $i < 200; $i++) {
        $digest = md5($digest . $job['text'] . $i);
    }
    return json_encode(['id' => $job['id'], 'digest' => $digest, 'ended' => microtime(true)]);
}
