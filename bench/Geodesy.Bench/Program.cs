using BenchmarkDotNet.Running;

// BenchmarkDotNet micro-benchmarks: dotnet run -c Release --project bench/Geodesy.Bench -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
