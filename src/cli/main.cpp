// The one Olympus executable. Services are listed here, once; everything else is in the libraries.
#include "app/service.hpp"

int main(int argc, char** argv) {
    olympus::app::Catalog catalog;
    return olympus::app::run_cli(argc, argv, catalog);
}
