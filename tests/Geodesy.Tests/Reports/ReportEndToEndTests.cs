using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Reports;

/// <summary>
/// A tiny sweep run through the CLI (sweep, report, rank), shared by the tests of this class: the
/// rank document has the keys of docs/ranking.md, and report.html renders in headless Chromium with its
/// tables and embedded PNG plots.
/// </summary>
public sealed class ReportFixture : IDisposable
{
    public static readonly string[] Measures = ["cross-entropy", "param-norm", "margin", "path-norm", "frob-distance", "spec-orig"];
    public static readonly string[] Hyperparameters = ["lr", "width"];
    public const int Trials = 6;

    private readonly TempDir _tmp = new();

    public string Store => "sqlite:" + _tmp["study.db"];
    public string OutDir => _tmp["report"];
    public string ReportHtml => Path.Combine(OutDir, "report.html");
    public JsonObject Rank { get; }
    public string Scratch(string name) => _tmp[name];
    public TimeSpan SweepTime { get; }

    public ReportFixture()
    {
        File.WriteAllText(_tmp["s.yaml"], $$"""
            name: report-e2e
            base:
              data: "gaussian-mixture:classes=3,dim=8,sep=3,n=600"
              arch: "mlp:8-{width}-3"
              epochs: 10
              batch: 16
            grid:
              lr: [0.02, 0.1]
              width: [8, 16, 64]
            measures: "{{string.Join(',', Measures)}}"
            """);
        var clock = Stopwatch.StartNew();
        Check(RunCli("sweep", "--spec", _tmp["s.yaml"], "--store", Store, "--threads", "1"), "sweep");
        SweepTime = clock.Elapsed;
        Check(RunCli("report", "--store", Store, "--out", OutDir), "report");
        Check(RunCli("rank", "--store", Store, "--json", _tmp["rank.json"]), "rank");
        Rank = JsonNode.Parse(File.ReadAllText(_tmp["rank.json"]))!.AsObject();
    }

    private static void Check(CliResult r, string verb) =>
        Assert.True(r.ExitCode == 0, $"geodesy {verb} exited with {r.ExitCode}:\n{r.Stderr}\n{r.Stdout}");

    public void Dispose() => _tmp.Dispose();
}

[Trait(TestCategory.Key, TestCategory.Service)]
public sealed class ReportEndToEndTests(ReportFixture fx) : IClassFixture<ReportFixture>
{
    /// <summary>An embedded plot smaller than this cannot hold axes, labels and data.</summary>
    private const int MinPlotBytes = 5_000;
    private const int MinPlotColors = 30;
    private const double MinPlotForeground = 0.02;
    private const int ScreenshotWidth = 1200, ScreenshotHeight = 2000;
    /// <summary>The bar color of the τ chart (SteelBlue); Chromium may shift colors slightly when it scales images.</summary>
    private const byte BarR = 70, BarG = 130, BarB = 180;
    private const int ColorTolerance = 8;
    private const int MinBarPixels = 2_000;
    private const double TauTolerance = 1e-9;

    [Fact]
    public void RankJsonHasTheDocumentedKeysAndItsTauCanBeRecomputed()
    {
        var rank = fx.Rank;
        Assert.Equal("geodesy.rank/1", (string?)rank["schema"]);
        var models = rank["models"]!.AsArray().Select(m => m!.AsObject()).ToList();
        Assert.Equal(ReportFixture.Trials, models.Count);
        foreach (var m in models)
        {
            Assert.False(string.IsNullOrEmpty((string?)m["id"]));
            Assert.Equal(ReportFixture.Hyperparameters, m["hparams"]!.AsObject().Select(kv => kv.Key).Order());
            double train = (double)m["train_accuracy"]!, test = (double)m["test_accuracy"]!;
            Assert.InRange(train, 0, 1);
            Assert.InRange(test, 0, 1);
            Assert.Equal(train - test, (double)m["gap"]!, 1e-12);
            Assert.Equal(ReportFixture.Measures.Order(), m["measures"]!.AsObject().Select(kv => kv.Key).Order());
        }

        var ranking = rank["ranking"]!.AsArray().Select(r => r!.AsObject()).ToList();
        foreach (var name in ReportFixture.Measures)
        {
            var row = Assert.Single(ranking, r => (string?)r["measure"] == name);
            foreach (var key in new[] { "kendall_tau", "tau_ci", "psi", "psi_per_hparam", "cmi" })
                Assert.True(row.ContainsKey(key), $"ranking row {name} has no '{key}'");
            var ci = row["tau_ci"]!.AsArray();
            Assert.Equal(2, ci.Count);
            Assert.True((double)ci[0]! <= (double)ci[1]!, $"{name}: tau_ci is not ordered");
            Assert.Equal(ReportFixture.Hyperparameters, row["psi_per_hparam"]!.AsObject().Select(kv => kv.Key).Order());
            // "so anyone can recompute the statistics": Kendall tau-b by brute force over the models array.
            double expected = KendallTauB(models.Select(m => (double)m["measures"]![name]!).ToArray(), models.Select(m => (double)m["gap"]!).ToArray());
            Assert.Equal(expected, (double)row["kendall_tau"]!, TauTolerance);
        }
    }

    private static double KendallTauB(double[] x, double[] y)
    {
        double s = 0, tiesX = 0, tiesY = 0, pairs = 0;
        for (int i = 0; i < x.Length; i++)
            for (int j = i + 1; j < x.Length; j++)
            {
                pairs++;
                int dx = Math.Sign(x[i] - x[j]), dy = Math.Sign(y[i] - y[j]);
                s += dx * dy;
                if (dx == 0) tiesX++;
                if (dy == 0) tiesY++;
            }
        return s / Math.Sqrt((pairs - tiesX) * (pairs - tiesY));
    }

    [Fact]
    public void ReportPngsAreRealPlots()
    {
        var pngs = Directory.GetFiles(fx.OutDir, "*.png");
        foreach (var expected in new[] { "tau.png", "psi.png", "cmi.png", "curves.png" })
            Assert.Contains(pngs, p => Path.GetFileName(p) == expected);
        Assert.Contains(pngs, p => Path.GetFileName(p).StartsWith("scatter-", StringComparison.Ordinal));
        foreach (var file in pngs) AssertRealPlot(File.ReadAllBytes(file), Path.GetFileName(file));
    }

    [Fact]
    public void ChromiumDomHasTheRankingTableTheModelsTableAndEmbeddedPngs()
    {
        string dom = HeadlessChromium.DumpDom(fx.ReportHtml);

        var rankingRows = DataRows(Table(dom, "ranking"));
        var rankedNames = fx.Rank["ranking"]!.AsArray().Select(r => (string)r!["measure"]!).ToList();
        Assert.Equal(rankedNames.Order(), rankingRows.Select(r => r[0]).Order());
        foreach (var name in ReportFixture.Measures) Assert.Contains(name, rankingRows.Select(r => r[0]));

        var modelRows = DataRows(Table(dom, "models"));
        Assert.Equal(ReportFixture.Trials, modelRows.Count);
        var ids = fx.Rank["models"]!.AsArray().Select(m => ((string)m!["id"]!)[..12]).Order();
        Assert.Equal(ids, modelRows.Select(r => r[0]).Order());

        var images = Regex.Matches(dom, "<img\\b[^>]*>").Select(m => m.Value).ToList();
        Assert.Equal(Directory.GetFiles(fx.OutDir, "*.png").Length, images.Count);
        foreach (var img in images)
        {
            var src = Regex.Match(img, "\\bsrc=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");
            Assert.True(src.Success, $"an <img> does not embed a PNG data URI: {img[..Math.Min(200, img.Length)]}");
            var bytes = Convert.FromBase64String(src.Groups[1].Value);
            string file = Regex.Match(img, "\\bdata-file=\"([^\"]+)\"").Groups[1].Value;
            AssertRealPlot(bytes, file);
            Assert.Equal(File.ReadAllBytes(Path.Combine(fx.OutDir, file)), bytes); // the PNG beside the page is the same plot
        }
    }

    [Fact]
    public void ChromiumScreenshotShowsTheTablesAndPlots()
    {
        var png = HeadlessChromium.Screenshot(fx.ReportHtml, fx.Scratch("screenshot.png"), ScreenshotWidth, ScreenshotHeight);
        Assert.True(PngImage.HasMagic(png), "the screenshot is not a PNG");
        var image = PngImage.Decode(png);
        Assert.Equal((ScreenshotWidth, ScreenshotHeight), (image.Width, image.Height));
        // A blank page is one color; text, tables and plots give hundreds of anti-aliased colors.
        Assert.True(image.DistinctColors() > 200, $"the screenshot has only {image.DistinctColors()} colors: is it blank?");
        Assert.True(image.ForegroundFraction() > 0.05, $"only {image.ForegroundFraction():P1} of the screenshot differs from the background");
        // The τ bar chart sits within the first 2000 px: its bars prove the browser decoded and drew the embedded PNG.
        int bars = image.CountNear(BarR, BarG, BarB, ColorTolerance);
        Assert.True(bars > MinBarPixels, $"the screenshot shows {bars} bar-colored pixels: the τ chart did not render");
    }

    private static void AssertRealPlot(byte[] bytes, string name)
    {
        Assert.True(PngImage.HasMagic(bytes), $"{name} is not a PNG");
        Assert.True(bytes.Length > MinPlotBytes, $"{name} has only {bytes.Length} bytes");
        var image = PngImage.Decode(bytes);
        Assert.True(image.Width >= 400 && image.Height >= 300, $"{name} is {image.Width}x{image.Height}");
        Assert.True(image.DistinctColors() > MinPlotColors, $"{name} has only {image.DistinctColors()} colors");
        Assert.True(image.ForegroundFraction() > MinPlotForeground, $"{name}: only {image.ForegroundFraction():P1} of it is drawn on");
    }

    private static string Table(string dom, string id)
    {
        var m = Regex.Match(dom, $"<table id=\"{id}\">(.*?)</table>", RegexOptions.Singleline);
        Assert.True(m.Success, $"the DOM has no <table id=\"{id}\">");
        return m.Groups[1].Value;
    }

    /// <summary>The text of the cells of each row that has td cells (header rows have th only).</summary>
    private static List<string[]> DataRows(string table) =>
        Regex.Matches(table, "<tr\\b[^>]*>(.*?)</tr>", RegexOptions.Singleline)
            .Select(r => Regex.Matches(r.Groups[1].Value, "<td\\b[^>]*>(.*?)</td>", RegexOptions.Singleline)
                .Select(c => System.Net.WebUtility.HtmlDecode(Regex.Replace(c.Groups[1].Value, "<[^>]+>", "")).Trim()).ToArray())
            .Where(cells => cells.Length > 0)
            .ToList();
}
