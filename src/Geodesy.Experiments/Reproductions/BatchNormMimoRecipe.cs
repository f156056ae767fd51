using System.Text.Json.Nodes;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Two claims about what little a network needs (docs/training-techniques.md): training only the
/// BatchNorm affine parameters of a randomly initialized CNN reaches well above chance accuracy
/// (Frankle, Schwab and Morcos 2021), and a MIMO network (Havasi et al. 2021) holds M subnetworks
/// whose ensemble beats its members. Both are `geodesy train` runs (`--train-only bn`, `--mimo M`);
/// the MIMO gain is paired within each seed (ensemble minus the mean member of the same network).
/// </summary>
public sealed class BatchNormMimoRecipe : Recipe
{
    public override string Name => "bn-only-mimo";
    public override string Claim => "Training only the BatchNorm parameters of a random CNN reaches well above chance accuracy, and the M subnetworks of one MIMO network form an ensemble more accurate than its members.";
    public override string Source => "Frankle, Schwab & Morcos 2021, Training BatchNorm and only BatchNorm (ICLR), Fig. 2; Havasi et al. 2021, Training independent subnetworks for robust prediction (ICLR), Fig. 3 and Table 1";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("subset", RecipeOptionKind.Int, "2000", "1000", "training examples (seeded stratified subset)"),
        new("bn_arch", RecipeOptionKind.Text, "cnn:channels=16-32,bn=1", "cnn:channels=16-32,bn=1", "the BN-only network (must have BatchNorm)"),
        new("bn_lr", RecipeOptionKind.Double, "0.5", "0.5", "learning rate of the BN-only runs (momentum SGD)"),
        new("bn_epochs", RecipeOptionKind.Int, "10", "8", "epochs of the BN-only runs"),
        new("bn_threshold", RecipeOptionKind.Double, "0.25", "0.25", "'well above chance': the test accuracy BN-only training must exceed (chance is 0.1 on 10 classes)"),
        new("mimo_arch", RecipeOptionKind.Text, "mlp:784-400-10", "mlp:784-200-10", "the MIMO network"),
        new("mimo", RecipeOptionKind.Int, "3", "3", "members M"),
        new("mimo_input_repetition", RecipeOptionKind.Double, "0", "0", "fraction of each batch all members share (Havasi et al.'s input repetition)"),
        new("mimo_epochs", RecipeOptionKind.Int, "10", "6", "epochs of the MIMO runs"),
        new("lr", RecipeOptionKind.Double, "0.05", "0.05", "learning rate of the MIMO runs (momentum SGD)"),
    ];

    protected override (int Default, int Quick) SeedCounts => (4, 3);

    public override string Criterion(RecipeOptions o) =>
        $"BN-only: the mean test accuracy over seeds minus {Verdicts.Z:G} standard errors must exceed {o.Double("bn_threshold"):G3} " +
        $"(mean plus {Verdicts.Z:G} s.e. below it: not-supported); MIMO (M = {o.Int("mimo")}): the per-seed gain, ensemble test accuracy minus the mean " +
        $"of its members' test accuracies, must have mean minus {Verdicts.Z:G} s.e. above 0 (mean plus {Verdicts.Z:G} s.e. below 0: not-supported); " +
        "both parts supported: supported, either not supported: not-supported, otherwise inconclusive";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        var bnAccuracy = new List<double>();
        var ensemble = new List<double>();
        var members = new List<double>();
        var disagreement = new List<double>();
        foreach (long seed in o.Seeds)
        {
            var bn = c.Train($"bn-only-s{seed}", new RunSpec
            {
                Data = o.Text("data"), Arch = o.Text("bn_arch"), Subset = o.Int("subset"), Lr = o.Double("bn_lr"),
                Epochs = o.Int("bn_epochs"), Seed = seed, TrainOnly = "bn",
            });
            bnAccuracy.Add(bn.Outcome.Training.Final?.TestAccuracy ?? double.NaN);

            var mimo = c.Train($"mimo{o.Int("mimo")}-s{seed}", new RunSpec
            {
                Data = o.Text("data"), Arch = o.Text("mimo_arch"), Subset = o.Int("subset"), Lr = o.Double("lr"),
                Epochs = o.Int("mimo_epochs"), Seed = seed, Mimo = o.Int("mimo"), MimoInputRepetition = o.Double("mimo_input_repetition"),
            });
            var extra = mimo.Outcome.Training.Final?.Extra;
            double Metric(string key) => extra is not null && extra.TryGetValue(key, out double v) ? v : double.NaN;
            ensemble.Add(Metric("mimo_ensemble_accuracy"));
            members.Add(Metric("mimo_member_accuracy_mean"));
            disagreement.Add(Metric("mimo_disagreement"));
        }
        return new JsonObject
        {
            ["bn_only"] = new JsonObject
            {
                ["arch"] = o.Text("bn_arch"),
                ["chance"] = 0.1,
                ["threshold"] = o.Double("bn_threshold"),
                ["test_accuracy"] = Estimate.Of(bnAccuracy).ToJson(),
            },
            ["mimo"] = new JsonObject
            {
                ["arch"] = o.Text("mimo_arch"),
                ["members"] = o.Int("mimo"),
                ["ensemble_accuracy"] = Estimate.Of(ensemble).ToJson(),
                ["member_accuracy_mean"] = Estimate.Of(members).ToJson(),
                ["ensemble_gain"] = Estimate.Of(ensemble.Zip(members, (e, m) => e - m)).ToJson(),
                ["disagreement"] = Estimate.Of(disagreement).ToJson(),
            },
            ["data"] = o.Text("data"),
        };
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        double threshold = evidence["bn_only"]?["threshold"] is JsonValue t ? (double)t : options.Double("bn_threshold");
        return Judgement.All(
            Verdicts.AtLeast(Estimate.FromJson(evidence["bn_only"]?["test_accuracy"]), threshold, "BN-only test accuracy against 'well above chance'"),
            Verdicts.AtLeast(Estimate.FromJson(evidence["mimo"]?["ensemble_gain"]), 0, "MIMO ensemble minus mean member accuracy"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
    [
        ("BN-only test accuracy", Estimate.FromJson(evidence["bn_only"]?["test_accuracy"]).ToString()),
        ("BN-only threshold (chance 0.1)", Verdicts.Fmt(evidence["bn_only"]?["threshold"] is JsonValue t ? (double)t : double.NaN)),
        ("MIMO ensemble test accuracy", Estimate.FromJson(evidence["mimo"]?["ensemble_accuracy"]).ToString()),
        ("MIMO mean member test accuracy", Estimate.FromJson(evidence["mimo"]?["member_accuracy_mean"]).ToString()),
        ("MIMO ensemble gain", Estimate.FromJson(evidence["mimo"]?["ensemble_gain"]).ToString()),
        ("MIMO disagreement", Estimate.FromJson(evidence["mimo"]?["disagreement"]).ToString()),
    ];
}
