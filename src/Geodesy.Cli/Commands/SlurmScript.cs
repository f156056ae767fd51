using Geodesy.Core;
using Geodesy.Core.Interop;

namespace Geodesy.Cli.Commands;

/// <summary>An sbatch job-array script whose tasks each run `geodesy worker` against a shared store.</summary>
public static class SlurmScript
{
    public static void Write(string path, string storeUri, string sweepId, string runsDir, int tasks)
    {
        if (tasks < 1) throw new InputException($"--slurm-tasks must be at least 1 (got {tasks})");
        if (storeUri.StartsWith("sqlite:", StringComparison.Ordinal))
            Console.Error.WriteLine("geodesy: warning: a SQLite store on a shared file system is fragile with many nodes; prefer postgres://");
        string script = $$"""
            #!/bin/bash
            #SBATCH --job-name=geodesy-{{sweepId[..8]}}
            #SBATCH --array=0-{{tasks - 1}}
            #SBATCH --cpus-per-task=2
            #SBATCH --mem=8G
            #SBATCH --time=24:00:00
            #SBATCH --output=geodesy-%A_%a.out
            # Each array task is one more worker on sweep {{sweepId}}; a killed task loses at most
            # its current trial, which another worker re-runs once the lease expires.
            set -euo pipefail
            geodesy worker --store '{{storeUri.Replace("'", "'\\''")}}' --sweep {{sweepId}} --runs '{{runsDir.Replace("'", "'\\''")}}' --threads "${SLURM_CPUS_PER_TASK:-2}" --name "slurm-${SLURM_ARRAY_JOB_ID:-0}-${SLURM_ARRAY_TASK_ID:-0}"

            """;
        AtomicFile.WriteAllText(path, script);
    }
}
