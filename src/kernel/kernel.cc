#include "kernel/kernel.h"

#include <fmt/format.h>

#include <algorithm>

namespace isthmus::kernel {

std::string Rule::to_string() const {
  std::string s;
  if (!iif.empty()) s += "iif " + iif + " ";
  if (fwmask != 0) s += fmt::format("fwmark {:#x}/{:#x} ", fwmark, fwmask);
  s += fmt::format("lookup {}", table);
  if (suppress_prefixlength >= 0)
    s += fmt::format(" suppress_prefixlength {}", suppress_prefixlength);
  return s;
}

Expected<std::optional<Link>> Kernel::find_link(const std::string& name) {
  auto all = links();
  if (!all) return unexpected(std::move(all.error()));
  for (Link& l : *all)
    if (l.name == name) return std::optional<Link>(std::move(l));
  return std::optional<Link>();
}

Expected<std::vector<FdbEntry>> Kernel::bridge_fdb(int bridge) {
  auto all = fdb();
  if (!all) return unexpected(std::move(all.error()));
  auto ls = links();
  if (!ls) return unexpected(std::move(ls.error()));
  std::vector<int> ports{bridge};
  for (const Link& l : *ls)
    if (l.master == bridge) ports.push_back(l.index);
  std::erase_if(*all, [&](const FdbEntry& e) {
    return e.master != bridge && std::find(ports.begin(), ports.end(), e.ifindex) == ports.end();
  });
  return all;
}

Expected<std::vector<FdbEntry>> Kernel::device_fdb(int ifindex) {
  auto all = fdb();
  if (!all) return unexpected(std::move(all.error()));
  std::erase_if(*all, [&](const FdbEntry& e) { return e.ifindex != ifindex; });
  return all;
}

Expected<std::vector<Neighbour>> Kernel::neighbours_of(int ifindex) {
  auto all = neighbours();
  if (!all) return unexpected(std::move(all.error()));
  std::erase_if(*all, [&](const Neighbour& n) { return n.ifindex != ifindex; });
  return all;
}

std::vector<ChangeError> Kernel::apply(std::span<const EntryChange> changes) {
  std::vector<ChangeError> failed;
  for (size_t i = 0; i < changes.size(); ++i) {
    const EntryChange& c = changes[i];
    Expected<void> r;
    switch (c.kind) {
      case EntryChange::Kind::AddFdb:
        r = add_fdb(c.fdb, false);
        break;
      case EntryChange::Kind::AppendFdb:
        r = add_fdb(c.fdb, true);
        break;
      case EntryChange::Kind::DeleteFdb:
        r = delete_fdb(c.fdb);
        break;
      case EntryChange::Kind::ReplaceNeighbour:
        r = replace_neighbour(c.neighbour);
        break;
      case EntryChange::Kind::DeleteNeighbour:
        r = delete_neighbour(c.neighbour);
        break;
      case EntryChange::Kind::ReplaceRoute:
        r = replace_route(c.route);
        break;
      case EntryChange::Kind::DeleteRoute:
        r = delete_route(c.route);
        break;
    }
    if (!r) failed.push_back({i, std::move(r.error())});
  }
  return failed;
}

}  // namespace isthmus::kernel
