#include "train/trainer.h"

#include <chrono>
#include <exception>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "frontend/frontend.h"
#include "ir/diagnostic.h"
#include "ir/format_util.h"
#include "ir/fusion.h"
#include "planner/cost_profile.h"
#include "planner/report.h"
#include "runtime/cpu/cpu_kernels.h"
#include "train/data/dataset.h"
#include "runtime/checkpoint.h"
#include "train/memory_budget.h"
#include "train/metrics.h"
#include "train/peak_rss.h"
#include "train/progress.h"
#include "train/step_profile.h"
#include "train/workers/communicator.h"
#include "train/workers/gradient_reducer.h"
#include "train/workers/sharded_source.h"
#include "train/workers/worker_run.h"

namespace sublinear::runtime::train {

namespace fs = std::filesystem;

namespace {

DeviceFactoryMaker& cuda_factory_maker() {
  static DeviceFactoryMaker maker;
  return maker;
}

std::function<int()>& cuda_device_count_fn() {
  static std::function<int()> count;
  return count;
}

std::unique_ptr<TrainingProgram> cpu_program(std::shared_ptr<const planner::Plan> plan, uint64_t seed) {
  ExecutorOptions o;
  o.seed = seed;
  return std::make_unique<ExecutorProgram>(std::move(plan), cpu::cpu_kernels(), o);
}

std::string pct(double x) {
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << 100.0 * x << "%";
  return s.str();
}

std::string fixed3(double x) {
  std::ostringstream s;
  s.precision(3);
  s << std::fixed << x;
  return s.str();
}

std::string ratio(double x) {
  std::ostringstream s;
  s.precision(2);
  s << std::fixed << x << "x";
  return s.str();
}

// The run's folders are made (and shown writable) before anything is planned or trained, so that a
// run directory that cannot exist is an error naming its key, not a filesystem error after the plan.
void prepare_output_folders(const ExperimentConfig& cfg) {
  auto make = [&](const std::string& dir, const std::string& key, const std::string& what) {
    if (dir.empty()) return;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!ec && !fs::is_directory(dir, ec)) ec = std::make_error_code(std::errc::not_a_directory);
    if (!ec) {
      const fs::path probe = fs::path(dir) / ".sublinear-write-check";
      const bool writable = static_cast<bool>(std::ofstream(probe));
      std::error_code ignored;
      fs::remove(probe, ignored);
      if (!writable) ec = std::make_error_code(std::errc::permission_denied);
    }
    if (ec) throw ConfigError(cfg.loc(key), "cannot use '" + dir + "' as " + what + ": " + ec.message());
  };
  make(cfg.run_dir, "run_dir", "the run directory (run_dir, or --run-dir)");
  make(fs::path(cfg.log.file).parent_path().string(), "log.file", "the metrics file's folder");
  if (cfg.checkpoint.every > 0) make(cfg.checkpoint.dir, "checkpoint.dir", "the checkpoint folder");
}

// A CPU plan larger than the memory the machine has left is the user's to change (batch, a budget), not
// an allocation failure half-way into building the program. The CUDA program checks its device itself.
void check_fits_in_memory(const planner::Plan& plan, const ExperimentConfig& cfg) {
  const std::optional<FreeMemory> free = cpu_free_memory();
  if (!free || plan.total_peak_bytes() <= free->bytes) return;
  using ir::human_bytes;
  throw ConfigError(cfg.loc("batch"),
                    "the memory plan needs " + human_bytes(plan.total_peak_bytes()) + " (feature maps " +
                        human_bytes(plan.feature_map_peak_bytes) + ", parameters, gradients and optimizer state " +
                        human_bytes(plan.parameter_bytes + plan.gradient_bytes + plan.optimizer_state_bytes) +
                        ", inputs " + human_bytes(plan.input_bytes) + ") but only " + human_bytes(free->bytes) +
                        " is " + free->source +
                        "; lower batch, or set memory.budget (a size, or auto) so the planner recomputes instead");
}

// run_dir/plan.json: the plan this start of the run trains with, and the budget it was asked for
// (with an auto budget, what it resolved to on this machine at this start). Replaced at every start,
// through a temporary file so a crash never leaves half of it.
void write_plan_record(const std::string& run_dir, const planner::Plan& plan, const ExperimentConfig& cfg,
                       const std::optional<AutoBudget>& resolved, int64_t start_step, const std::string& fingerprint,
                       const nlohmann::json& workers) {
  nlohmann::json j = planner::plan_to_json(plan);
  j["start_step"] = start_step;
  j["plan_fingerprint"] = fingerprint;
  if (!workers.is_null()) j["workers"] = workers;
  if (resolved) {
    j["memory_budget"] = {{"requested", "auto"},
                          {"bytes", resolved->bytes},
                          {"free_bytes", resolved->free_bytes},
                          {"share_of_free", kAutoBudgetShare},
                          {"free_from", resolved->source}};
  } else if (cfg.memory.budget_bytes) {
    j["memory_budget"] = {{"requested", *cfg.memory.budget_bytes}, {"bytes", *cfg.memory.budget_bytes}};
  }
  const fs::path path = fs::path(run_dir) / "plan.json", tmp = fs::path(run_dir) / "plan.json.tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << j.dump(2) << "\n";
    if (!f) throw std::runtime_error(tmp.string() + ": cannot write the run's plan record");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw std::runtime_error(path.string() + ": cannot write the run's plan record: " + ec.message());
}

// `reduction`: the data-parallel gradient sums' buffers (train/workers), a row of their own beside the
// plan's categories and part of the total; 0 without workers.
void print_plan_summary(std::ostream& out, const ExperimentConfig& cfg, const ir::Graph& g,
                        const planner::Plan& plan, const planner::Plan* baseline, int64_t reduction) {
  using ir::human_bytes;
  int64_t params = 0;
  for (ir::NodeId id : g.params()) params += ir::num_elements(g.node(id).outputs[0].shape);
  out << "model " << g.model_name << " from " << cfg.model.file << ": " << g.size() << " nodes, "
      << ir::with_commas(params) << " parameters, batch " << cfg.batch << "\n";
  if (const std::string fused = ir::describe_fusion(ir::fused_in(g)); !fused.empty())
    out << "fusion: " << fused << " (memory.fusion: false or --no-fusion trains the ops as written)\n";
  out << "memory plan (" << planner::strategy_label(plan) << ", " << plan.steps.size() << " steps, "
      << plan.recomputed_nodes << " nodes recomputed, " << pct(plan.extra_forward_ratio())
      << (plan.options.costs ? " extra forward time, costed by measured time from " + plan.options.costs->source
          : plan.options.cost_model == planner::CostModel::Flops ? std::string(" extra forward FLOPs")
                                                                 : std::string(" extra forward work, FLOPs plus memory traffic"))
      << ")\n";
  auto row = [&out](const char* what, int64_t bytes) {
    std::string label = what;
    label.resize(18, ' ');
    out << "  " << label << human_bytes(bytes) << "\n";
  };
  row("inputs", plan.input_bytes);
  row("parameters", plan.parameter_bytes);
  row("parameter grads", plan.gradient_bytes);
  row("optimizer state", plan.optimizer_state_bytes);
  row("feature maps", plan.feature_map_peak_bytes);
  row("workspace", plan.workspace_bytes);
  if (reduction > 0) row("reduction buffers", reduction);
  row("total", plan.total_peak_bytes() + reduction);
  if (baseline != nullptr && baseline->feature_map_peak_bytes > 0) {
    out << "  saved             feature maps " << human_bytes(baseline->feature_map_peak_bytes) << " -> "
        << human_bytes(plan.feature_map_peak_bytes) << " ("
        << ratio(static_cast<double>(baseline->feature_map_peak_bytes) /
                 static_cast<double>(std::max<int64_t>(plan.feature_map_peak_bytes, 1)))
        << " smaller than keeping every feature map), total " << human_bytes(baseline->total_peak_bytes())
        << " -> " << human_bytes(plan.total_peak_bytes()) << "\n";
  }
}

// A device program's memory next to the plan's total: what it allocated, by category, and what the device
// has in use (its context and libraries included).
void print_device_memory(std::ostream& out, const DeviceMemory& d, const planner::Plan& plan) {
  using ir::human_bytes;
  out << "device memory on " << d.device << ": " << human_bytes(d.allocated()) << " allocated (feature maps "
      << human_bytes(d.arena) << ", workspace " << human_bytes(d.workspace) << ", inputs, parameters, gradients and "
      << "optimizer state " << human_bytes(d.persistent) << ", library buffers " << human_bytes(d.library)
      << "; the plan's total is " << human_bytes(plan.total_peak_bytes()) << "), " << human_bytes(d.in_use)
      << " in use on the device\n";
}

// A scalar f32 graph output by name (the examples' accuracy), or -1.
int find_output(const ir::Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.output_names().size(); ++i)
    if (g.output_names()[i] == name && g.type(g.outputs()[i]).dtype == ir::DType::F32 &&
        g.type(g.outputs()[i]).shape.empty())
      return static_cast<int>(i);
  return -1;
}

TrainResult train_impl(const TrainRequest& req, std::ostream& out, std::ostream& err, const ProgramFactory& factory,
                       SourceManager& sources) {
  // --run-dir is the override run_dir=DIR: log.file and checkpoint.dir follow it unless set explicitly.
  std::vector<std::string> overrides = req.overrides;
  if (!req.run_dir.empty()) overrides.push_back("run_dir=" + req.run_dir);
  ExperimentConfig cfg = load_experiment(req.experiment, overrides);
  // Data-parallel workers (train/workers): worker 0 prints, writes the metrics, the run's records and the
  // checkpoints; every worker plans, trains and checks that it planned what worker 0 did.
  Communicator* comm = connect_workers();
  const int workers = comm != nullptr ? comm->size() : 1, rank = comm != nullptr ? comm->rank() : 0;
  const bool lead = rank == 0, quiet = req.quiet || !lead;
  if (cfg.batch % workers != 0)
    throw ConfigError(cfg.loc("batch"), "batch " + std::to_string(cfg.batch) + " is the global batch and must split " +
                                            "evenly over the " + std::to_string(workers) + " workers; use a multiple of " +
                                            std::to_string(workers));
  if (comm != nullptr && cfg.device.kind == DeviceKind::Cuda && comm->local_rank() > 0) {
    int visible = -1;
    if (cuda_device_count_fn()) {
      try {
        visible = cuda_device_count_fn()();
      } catch (const std::runtime_error& e) {  // the plug-in cannot be loaded: said at the key that asked
        throw ConfigError(cfg.loc("device"), e.what());
      }
    }
    const int index = worker_cuda_device(cfg.device.index, comm->local_rank(), visible);
    if (index < 0)
      throw ConfigError(cfg.loc("device"), "worker " + std::to_string(rank) + " is local worker " +
                                               std::to_string(comm->local_rank()) + " of its machine, so it takes cuda:" +
                                               std::to_string(cfg.device.index + comm->local_rank()) + ", but the " +
                                               "machine shows " + std::to_string(visible) + " CUDA devices; start " +
                                               "at most one worker per GPU, or give each its own " +
                                               "(CUDA_VISIBLE_DEVICES per rank)");
    cfg.device.index = index;
  }
  if (lead) prepare_output_folders(cfg);
  ProgramFactory device_factory = factory;
  if (cfg.device.kind == DeviceKind::Cuda && !device_factory) {
    if (!cuda_factory_maker())
      throw ConfigError(cfg.loc("device"), "device " + cfg.device.str() +
                                               " needs the CUDA backend, which this build does not have; use device: cpu");
    try {
      device_factory = cuda_factory_maker()(cfg.device.index, cfg.deterministic);
    } catch (const std::runtime_error& e) {  // the plug-in cannot be loaded: say so at the key that asked
      throw ConfigError(cfg.loc("device"), e.what());
    }
  }

  frontend::LoadOptions lo;
  lo.batch = cfg.batch;
  lo.sets = cfg.model.params;
  for (const auto& [name, value] : cfg.model.params) {
    const ConfigLoc at = cfg.loc("model.params." + name);
    lo.set_locs.push_back(SourceLoc{at.file, at.line, at.column, std::max<int>(1, static_cast<int>(value.size()))});
  }
  lo.model = cfg.model.name;
  lo.fusion = cfg.memory.fusion ? ir::FusionOptions::for_policy(cfg.memory.policy)  // ir/fusion.h
                                : ir::FusionOptions::none();
  // With workers, a source that cannot read only its shard draws the global batch for slicing, and
  // synthetic data needs the axis each input's batch splits along: both come from the inputs at the
  // global batch, from loading the model at it.
  const bool needs_axes = workers > 1 && data::shard_needs_batch_axes(cfg.data);
  std::vector<data::InputSpec> global_specs;
  if (workers > 1 && (!data::reads_only_its_shard(cfg.data) || needs_axes))
    global_specs = data::input_specs(frontend::load_model(cfg.model.file, lo, sources));
  lo.batch = cfg.batch / workers;
  auto graph = std::make_shared<const ir::Graph>(frontend::load_model(cfg.model.file, lo, sources));

  std::optional<int64_t> auto_budget;
  std::optional<AutoBudget> resolved;
  if (cfg.memory.budget_auto) {
    AutoBudget ab = auto_memory_budget(cfg);
    if (comm != nullptr) ab = shared_auto_budget(*comm, ab, cfg.device.kind == DeviceKind::Cpu);
    resolved = ab;
    auto_budget = ab.bytes;
    if (!quiet)
      out << "memory.budget auto: " << ir::human_bytes(ab.bytes) << " (" << static_cast<int>(kAutoBudgetShare * 100)
          << "% of " << ir::human_bytes(ab.free_bytes) << " " << ab.source << ")\n";
  }
  planner::PlanRequest preq = cfg.plan_request(auto_budget);
  planner::apply_costs(preq.options, cfg.memory.costs, *graph);
  auto plan = std::make_shared<const planner::Plan>(planner::plan_model(graph, preq));
  if (comm != nullptr) check_same_everywhere(*comm, "memory plan", plan_fingerprint(*plan));

  auto specs = data::input_specs(*graph);
  std::unique_ptr<data::DataSource> source;
  std::vector<int> axes;
  if (!global_specs.empty()) axes = batch_axes(global_specs, specs, workers);
  const bool own_rows = workers > 1 && data::can_open_data_shard(cfg.data, global_specs, specs, axes);
  if (workers > 1 && !own_rows) {
    source = shard_source(data::open_data_source(cfg.data, global_specs, cfg.seed), global_specs, std::move(axes),
                          rank, workers);
  } else if (workers > 1) {
    source = data::open_data_shard(cfg.data, specs, cfg.seed, data::DataShard{rank, workers, std::move(axes)});
  } else {
    source = data::open_data_source(cfg.data, specs, cfg.seed);
  }
  const int64_t total = req.steps ? *req.steps : cfg.total_steps(source->epoch_size());
  if (total <= 0) throw ConfigError(cfg.loc("steps"), "the run has no steps (" + std::to_string(total) + ")");

  if (!device_factory) check_fits_in_memory(*plan, cfg);
  auto program = device_factory ? device_factory(plan, cfg.seed) : cpu_program(plan, cfg.seed);
  std::optional<GradientReducer> reducer;
  std::string workers_line;
  if (workers > 1) {
    if (!program->set_worker(rank) && has_dropout(*graph))
      throw ConfigError(cfg.loc("model"), "this program (a compiled trainer) cannot key the dropout masks of worker " +
                                              std::to_string(rank) + "; train data-parallel with `sublinear train`");
    std::string how;
    if (program->host_params() != nullptr) {
      // Overlap needs the program to report finished gradients; a compiled trainer runs the steps itself
      // and refuses the hook, and then sums them all after the backward pass, without the reducer's thread.
      const bool reports = cfg.workers.overlap &&
                           program->set_gradient_ready_hook([r = &reducer](size_t p) { (*r)->ready(p); });
      reducer.emplace(*comm, *program->host_params(), program->gradient_ready_order(), cfg.workers.bucket_bytes,
                      reports);
      how = "averaged in " + std::to_string(reducer->buckets()) + (reducer->buckets() == 1 ? " bucket" : " buckets") +
            (reducer->overlaps() ? " as the backward pass finishes them" : " after the backward pass") + ", " +
            ir::human_bytes(reducer->extra_bytes()) + " of reduction buffers";
    } else {
      // A device program sums on its device: worker 0's bootstrap id reaches every worker through MPI.
      const std::string id = comm->gather_all(lead ? program->make_device_reduce_id() : std::string())[0];
      if (id.empty())
        throw ConfigError(cfg.loc("device"), "this program cannot sum gradients across workers on " + cfg.device.str());
      how = "averaged on the devices by " + program->join_device_reduce(id, rank, workers) + " after the backward pass";
    }
    // What the loop does step by step must match too, or one worker would wait in a sum (or a checkpoint
    // barrier) that the others never reach. One collective check, before the first step.
    const bool overlaps = reducer && reducer->overlaps();
    check_same_everywhere(*comm, "run (experiment, steps, log.every, checkpoint.every, workers.bucket, workers.overlap)",
                          "experiment " + std::to_string(cfg.hash()) + ", " + std::to_string(total) + " steps, log every " +
                              std::to_string(cfg.log.every) + ", checkpoint every " + std::to_string(cfg.checkpoint.every) +
                              ", bucket " + std::to_string(cfg.workers.bucket_bytes) + " bytes, overlap " +
                              (overlaps ? "on" : "off"));
    workers_line = "workers: " + comm->describe() + "; batch " + std::to_string(cfg.batch) + " split into " +
                   std::to_string(workers) + " x " + std::to_string(cfg.batch / workers) + "; gradients " + how + "\n";
  }
  // The summary comes once the program exists: with workers, the reduction's buffers are a row of it.
  if (!quiet) {
    std::optional<planner::Plan> baseline;
    if (plan->recomputed_nodes > 0) {
      planner::PlanRequest keep = preq;
      keep.policy = planner::Policy::None;
      keep.memory_budget.reset();
      baseline = planner::plan_model(graph, keep);
    }
    print_plan_summary(out, cfg, *graph, *plan, baseline ? &*baseline : nullptr, reducer ? reducer->extra_bytes() : 0);
    out << workers_line;
  }
  std::optional<StepProfile> profile;
  if (req.profile) {
    if (!program->start_profiling())
      throw ConfigError(cfg.loc("device"), "--profile times the steps of the CPU executor and of CPU compiled "
                                           "trainers; this run (" + cfg.device.str() + ") cannot be profiled yet");
    profile.emplace(*plan);
  }
  if (auto d = program->device_memory(); d && !quiet) print_device_memory(out, *d, *plan);
  const std::string run_dir = cfg.run_dir;
  if (lead) fs::create_directories(run_dir);  // the other workers write nothing
  const std::string ckpt_dir = cfg.checkpoint.dir;
  const std::string metrics_path = cfg.log.file;

  int64_t start = 0;
  if (req.resume) {
    auto warn = [&err, lead](const std::string& m) {  // every worker reads the same files: one says so
      if (lead) err << "warning: " << m << "\n";
    };
    auto ck = load_latest_checkpoint(ckpt_dir, warn);
    if (!ck) throw std::runtime_error("--resume: no checkpoint in " + ckpt_dir);
    const auto& c = ck->contents;
    if (const int before = checkpoint_workers(c.rng_state); before != workers && lead)
      err << "warning: " << ck->path << " was written by " << before << " worker" << (before == 1 ? "" : "s")
          << " and this run has " << workers << ": the batches are the same, but gradients are summed in another "
          << "order and batch-norm statistics are per worker, so the run will not repeat an uninterrupted one "
          << "bitwise\n";
    if (c.config_hash != cfg.hash())
      throw std::runtime_error("--resume: " + ck->path +
                               " was written by a different experiment (model, batch, seed, data, optimizer or "
                               "schedule changed); start a new run directory instead");
    if (c.plan_fingerprint != program->plan_fingerprint() && !quiet)
      out << "note: resuming under a different memory plan (" << c.plan_fingerprint << " -> "
          << program->plan_fingerprint() << "); the numbers do not change\n";
    program->load_state(c);
    source->restore_state(c.data_state);
    start = ck->step;
    if (!quiet) out << "resumed from " << ck->path << " at step " << start << "\n";
  } else {
    program->init_params();
    if (lead) std::ofstream(run_dir + "/config.yaml") << cfg.to_yaml();
  }
  if (comm != nullptr) check_same_everywhere(*comm, "training state (parameters and optimizer)", state_hash(*program));
  nlohmann::json workers_record;  // with workers: how many, and what the gradient sums add to the plan
  if (workers > 1)
    workers_record = {{"count", workers},
                      {"worker_batch", cfg.batch / workers},
                      {"reduction", reducer ? "buckets summed in rank order" : "on the device"},
                      {"bucket_bytes", reducer ? cfg.workers.bucket_bytes : 0},
                      {"buckets", reducer ? static_cast<int64_t>(reducer->buckets()) : 0},
                      {"reduction_buffer_bytes", reducer ? reducer->extra_bytes() : 0}};
  if (lead) write_plan_record(run_dir, *plan, cfg, resolved, start, program->plan_fingerprint(), workers_record);
  if (!quiet) out << "data: " << source->describe() << "\n";

  std::optional<MetricsWriter> metrics;
  if (lead)
    metrics.emplace(metrics_path, req.resume ? start : -1, cfg.log.every,
                    [&err](const std::string& m) { err << "warning: " << m << "\n"; });
  ProgressReporter progress(err, !quiet && ProgressReporter::stderr_is_tty(), cfg.log.every, start);
  const int acc_output = find_output(*graph, "acc");
  // data.bad_images: skip: the first few replaced samples are printed, all are counted in the metrics.
  const bool counts_skips = cfg.data.kind == "imagenet" && cfg.data.bad_images == "skip";
  constexpr int kSkipWarnings = 10;
  int skip_warnings = 0;

  TrainResult result;
  result.run_dir = run_dir;
  result.planned_arena_bytes = plan->feature_map_peak_bytes;
  using clock = std::chrono::steady_clock;
  const auto t_begin = clock::now();
  auto t_log = t_begin;
  int64_t since_log = 0;
  // Batch s + 1 is prepared while the device still runs step s: the loss of step s is read (the host's
  // one wait per step) only after that, so the GPU does not idle while the host fills the next batch.
  // What a step reports and saves is unchanged: the data state a checkpoint records is taken before the
  // next batch is drawn, and a data error in the next batch is raised only after step s has been
  // reported and checkpointed, as if it had been drawn at the top of step s + 1.
  auto draw = [&] {
    source->next(program->inputs());
    for (const std::string& why : source->take_skipped())
      if (lead && ++skip_warnings <= kSkipWarnings)
        progress.message("warning: replaced a sample (data.bad_images: skip): " + why +
                         (skip_warnings == kSkipWarnings ? "; further ones are counted (bad_images_skipped in the "
                                                           "metrics), not printed"
                                                         : ""));
  };
  if (start < total) draw();
  for (int64_t step = start; step < total; ++step) {
    program->run_step(step);
    if (reducer) reducer->finish();
    // The run's first step warms caches and allocators up: it is left out unless it is the only one.
    if (profile && (step > start || total - start == 1)) profile->add(*program->step_seconds());
    const double lr = learning_rate(cfg.schedule, cfg.optimizer.lr, step, total);
    const int64_t done = step + 1;
    const bool ckpt_due = cfg.checkpoint.every > 0 && (done % cfg.checkpoint.every == 0 || done == total);
    const std::string data_state = ckpt_due ? source->save_state() : std::string();
    const int64_t skipped = counts_skips ? source->skipped_total() : 0;  // through batch s, as reported
    std::exception_ptr next_batch_error;
    if (done < total) {
      try {
        draw();
      } catch (...) {
        next_batch_error = std::current_exception();
      }
    }
    const float loss = mean_over_workers(comm, program->loss());
    if (!std::isfinite(loss))
      throw std::runtime_error("the loss is " + std::string(std::isnan(loss) ? "nan" : "infinite") + " at step " +
                               std::to_string(step + 1) + "; try a lower optimizer.lr or a warmup");
    program->apply_optimizer(cfg.optimizer, lr, step);
    ++since_log;
    result.steps_done = done;
    result.last_loss = loss;
    if (done % cfg.log.every == 0 || done == total) {
      const auto now = clock::now();
      const double dt = std::chrono::duration<double>(now - t_log).count();
      MetricsRecord m;
      m.step = done;
      m.loss = loss;
      m.lr = lr;
      m.samples_per_s = dt > 0 ? static_cast<double>(since_log * cfg.batch) / dt : 0.0;
      m.arena_peak_bytes = program->arena_peak_bytes();
      m.planned_arena_bytes = plan->feature_map_peak_bytes;
      m.rss_peak_bytes = peak_rss_bytes();
      m.elapsed_s = std::chrono::duration<double>(now - t_begin).count();
      if (acc_output >= 0)
        m.extras.push_back({"accuracy", mean_over_workers(comm, program->output_scalar(static_cast<size_t>(acc_output)))});
      if (counts_skips) m.extras.push_back({"bad_images_skipped", static_cast<double>(skipped)});
      if (auto d = program->device_memory()) {
        m.extras.push_back({"device_allocated_bytes", static_cast<double>(d->allocated())});
        m.extras.push_back({"device_in_use_bytes", static_cast<double>(d->in_use)});
      }
      if (reducer) m.extras.push_back({"reduce_wait_s", reducer->wait_seconds()});
      if (metrics) metrics->write(m);
      if (!quiet) {
        ProgressUpdate u;
        u.step = done;
        u.total = total;
        u.loss = loss;
        u.lr = lr;
        u.samples_per_s = m.samples_per_s;
        u.arena_peak_bytes = m.arena_peak_bytes;
        u.elapsed_s = m.elapsed_s;
        progress.update(u);
      }
      t_log = now;
      since_log = 0;
    }
    if (ckpt_due && lead) {
      CheckpointContents c;
      c.config_hash = cfg.hash();
      c.plan_fingerprint = program->plan_fingerprint();
      c.rng_state = "seed=" + std::to_string(cfg.seed) + " workers=" + std::to_string(workers);
      c.data_state = data_state;
      program->save_state(c);
      const std::string path = write_checkpoint(ckpt_dir, done, c, cfg.checkpoint.keep);
      if (!quiet) progress.message("checkpoint " + path);
    }
    if (next_batch_error) std::rethrow_exception(next_batch_error);
  }
  progress.finish();
  if (profile && lead) {
    const std::string path = run_dir + "/profile.json";
    std::ofstream f(path);
    f << profile->to_json().dump(1) << "\n";
    if (!f) throw std::runtime_error("cannot write " + path);
    if (!quiet)
      out << "profile: " << path << " (medians of " << profile->steps() << " steps; use it with plan --costs or "
          << "memory.costs)\n";
  }
  result.measured_arena_bytes = program->arena_peak_bytes();
  result.rss_peak_bytes = peak_rss_bytes();
  if (!quiet) {
    out << "trained " << result.steps_done << " steps, loss " << result.last_loss << "; feature-map arena planned "
        << ir::human_bytes(result.planned_arena_bytes) << ", measured " << ir::human_bytes(result.measured_arena_bytes)
        << "; process peak RSS " << ir::human_bytes(result.rss_peak_bytes) << "\n";
    if (counts_skips)
      out << "bad images: " << source->skipped_total() << " samples replaced because their file could not be "
          << "decoded (data.bad_images: skip)\n";
    if (auto d = program->device_memory()) print_device_memory(out, *d, *plan);
    if (reducer)
      out << "workers: " << workers << ", waited " << fixed3(reducer->wait_seconds()) << " s for gradient sums in "
          << fixed3(std::chrono::duration<double>(clock::now() - t_begin).count()) << " s of training\n";
    out << "metrics: " << metrics->path() << "\n";
  }
  return result;
}

}  // namespace

void register_cuda_program_factory(DeviceFactoryMaker maker) { cuda_factory_maker() = std::move(maker); }

void register_cuda_device_count(std::function<int()> count) { cuda_device_count_fn() = std::move(count); }

int worker_cuda_device(int asked, int local_rank, int visible) {
  if (visible == 1) return asked;
  if (visible >= 0 && asked + local_rank >= visible) return -1;
  return asked + local_rank;
}

TrainResult train(const TrainRequest& req, std::ostream& out, std::ostream& err, const ProgramFactory& factory) {
  SourceManager sources;
  return train_impl(req, out, err, factory, sources);
}

int run_train_cli(const TrainRequest& req, std::ostream& out, std::ostream& err, const ProgramFactory& factory) {
  SourceManager sources;
  std::ostringstream msg;
  try {
    train_impl(req, out, err, factory, sources);
    return 0;
  } catch (const ConfigError& e) {
    msg << e.what() << "\n";
  } catch (const UserErrors& e) {
    for (const auto& d : e.diagnostics()) msg << format_diagnostic(d, sources);
  } catch (const UserError& e) {
    msg << format_diagnostic(e.diagnostic(), sources);
  } catch (const std::exception& e) {
    msg << "error: " << e.what() << "\n";
  }
  // With workers, the failing one says which it is and ends them all: the others may be waiting for it
  // in a sum that would never complete.
  Communicator* comm = nullptr;
  try {
    comm = connect_workers();
  } catch (const std::exception&) {
  }
  if (comm == nullptr || comm->size() == 1) {
    err << msg.str();
    return 1;
  }
  std::istringstream lines(msg.str());
  const std::string tag = "[worker " + std::to_string(comm->rank()) + " of " + std::to_string(comm->size()) + "] ";
  std::string tagged;  // one write, so the workers' lines do not interleave mid-line
  for (std::string line; std::getline(lines, line);) tagged += tag + line + "\n";
  err << tagged << std::flush;
  comm->abort(1);
  return 1;  // not reached: abort() ends the process
}

}  // namespace sublinear::runtime::train
