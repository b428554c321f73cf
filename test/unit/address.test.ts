// The address a per-address budget counts: IPv4 as itself, IPv6 by its /64.
import { expect } from "chai";
import { budgetAddress } from "../../src/domain/address.js";

describe("the address a budget counts (domain/address.ts)", () => {
  it("counts an IPv4 address, mapped or not, with a port or not, as itself", () => {
    expect(budgetAddress("203.0.113.7")).to.equal("203.0.113.7");
    expect(budgetAddress("::ffff:203.0.113.7")).to.equal("203.0.113.7");
    expect(budgetAddress("::ffff:cb00:7107")).to.equal("203.0.113.7");
    expect(budgetAddress("203.0.113.7:5678")).to.equal("203.0.113.7");
    expect(budgetAddress("[::ffff:203.0.113.7]:80")).to.equal("203.0.113.7");
  });

  it("counts every address of one IPv6 /64 as one, however it is written", () => {
    const a = budgetAddress("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    expect(a).to.equal("2001:db8:1:2::/64");
    expect(budgetAddress("2001:0db8:0001:0002::1")).to.equal(a);
    expect(budgetAddress("2001:db8:1:2::")).to.equal(a);
    expect(budgetAddress("2001:db8:1:3::1")).to.not.equal(a);
    expect(budgetAddress("::1")).to.equal("0:0:0:0::/64");
    expect(budgetAddress("fe80::1%eth0")).to.equal("fe80:0:0:0::/64");
  });

  it("counts whatever is not an address under one budget", () => {
    expect(budgetAddress("")).to.equal("invalid");
    expect(budgetAddress("not an ip")).to.equal("invalid");
    expect(budgetAddress("1.2.3.4:99999x")).to.equal("invalid");
    expect(budgetAddress("[2001:db8:1:2::9]:443")).to.equal("2001:db8:1:2::/64");
  });
});
