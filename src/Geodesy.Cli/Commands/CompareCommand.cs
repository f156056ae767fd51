using System.CommandLine;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Runs;

namespace Geodesy.Cli.Commands;

/// <summary>`geodesy compare RUN_A RUN_B [--json FILE]`: <see cref="RunComparison"/> of two run folders; document geodesy.compare/1.</summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var runA = new Argument<string>("RUN_A") { Description = "A run folder of 'geodesy train' (final.safetensors, run.json)" };
        var runB = new Argument<string>("RUN_B") { Description = "Another run folder of the same architecture and data" };
        var json = CommonOptions.Json();
        var threads = CommonOptions.Threads();
        var cmd = new Command("compare", "Compare two trained models on the test set: prediction disagreement, KL between their predictive distributions (both directions), weight distance, test accuracies.")
        { runA, runB, json, threads };
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            string a = parse.GetValue(runA)!, b = parse.GetValue(runB)!;
            string? dest = parse.GetValue(json);
            CommonOptions.CheckOutputFolder(dest == "-" ? null : dest, "--json");
            var log = dest == "-" ? parse.InvocationConfiguration.Error : parse.InvocationConfiguration.Output;
            var report = new JsonReport("compare", parse.Tokens.Select(t => t.Value));
            // Each model is evaluated on its own run's data (with its own normalization statistics).
            var sourceA = new ModelSource { Run = Existing(a, "RUN_A"), DType = TorchSharp.torch.ScalarType.Float64 }.Resolve();
            var sourceB = new ModelSource { Run = Existing(b, "RUN_B"), DType = TorchSharp.torch.ScalarType.Float64 }.Resolve();
            using var modelA = sourceA.Load();
            using var modelB = sourceB.Load();
            var r = RunComparison.Compute(modelA, modelB);
            log.WriteLine($"test examples {r.Examples}: prediction disagreement {r.Disagreement:P2}, KL(A||B) {r.KlAB:G4}, KL(B||A) {r.KlBA:G4}, symmetric {r.KlSymmetric:G4}");
            log.WriteLine($"weight distance {r.WeightDistance:G4} ({r.WeightDistance / r.WeightNormA:P1} of ||A||, {r.WeightDistance / r.WeightNormB:P1} of ||B||); test accuracy A {r.TestAccuracyA:P2}, B {r.TestAccuracyB:P2}");
            if (dest is not null)
            {
                report.Root["run_a"] = Path.GetFullPath(a);
                report.Root["run_b"] = Path.GetFullPath(b);
                report.Root["arch"] = sourceA.Arch;
                report.Root["data"] = sourceA.DataSpec;
                r.WriteTo(report.Root);
                new Cost(0, 0, r.Seconds, TorchSharp.torch.get_num_threads()).WriteTo(report.Cost);
                report.Cost["forward_examples"] = 2 * r.Examples;
                report.Provenance["seed"] = sourceA.RunSpec?.Seed;
                report.Provenance["seed_b"] = sourceB.RunSpec?.Seed;
                report.Provenance["data_sha256"] = modelA.Data.Sha256;
                report.Provenance["data_sha256_b"] = modelB.Data.Sha256;
                report.Provenance["weights_sha256"] = Provenance.Sha256OfFile(sourceA.Weights!);
                report.Provenance["weights_sha256_b"] = Provenance.Sha256OfFile(sourceB.Weights!);
                report.Write(dest, parse.InvocationConfiguration.Output);
            }
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    private static string Existing(string dir, string name) =>
        Directory.Exists(dir) ? dir : throw new InputException($"{name} '{dir}' does not exist");
}
